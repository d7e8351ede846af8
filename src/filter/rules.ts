// Parsing of the filter variables (LOGFERRY_DROP, _KEEP, _MIN_LEVEL, _REDACT, _REDACT_FIELDS, _RATE_LIMIT).
import { fileGlob, splitEntries } from '../parse/enrich.js';
import { type Level, normalizeLevel } from '../parse/level.js';
import { compileUserRegex } from '../parse/safe-regex.js';
import {
  BUILT_IN_RULES,
  type BuiltInRule,
  builtInDetector,
  customDetector,
  type Detector,
} from './redact.js';

/** The filter settings as the configuration holds them (text, checked at load). */
export interface FilterOptions {
  drop: string;
  keep: string;
  minLevel: string;
  redact: string;
  redactFields: string[];
  rateLimit: string;
  rateLimitMode: 'wait' | 'drop';
}

/** One LOGFERRY_DROP or LOGFERRY_KEEP entry. */
export interface MatchRule {
  /** Files it applies to; null: every file. */
  files: ((path: string) => boolean) | null;
  /** A parsed field (`a.b` looks into objects); null: the message. */
  field: string | null;
  re: RegExp;
}

export const LEVEL_ORDER: Record<Level, number> = {
  trace: 0,
  debug: 1,
  info: 2,
  warn: 3,
  error: 4,
  fatal: 5,
};

const GLOB_CHARS = /[/*?[{]/;
const FIELD_NAME = /^[A-Za-z_@][\w.@-]*$/;

/**
 * `[<glob>=][<field>=]<regex>` entries. A prefix before `=` is a glob when it has one of `/ * ? [ {`, a
 * field when it is a plain name (`message=` names the message explicitly).
 */
export function parseMatchRules(s: string): MatchRule[] | string {
  const rules: MatchRule[] = [];
  for (const entry of splitEntries(s)) {
    let rest = entry;
    let files: MatchRule['files'] = null;
    const eq = rest.indexOf('=');
    if (eq > 0 && GLOB_CHARS.test(rest.slice(0, eq))) {
      const glob = rest.slice(0, eq).trim();
      files = fileGlob(glob);
      rest = rest.slice(eq + 1);
    }
    let field: string | null = null;
    const feq = rest.indexOf('=');
    if (feq > 0 && FIELD_NAME.test(rest.slice(0, feq).trim())) {
      const name = rest.slice(0, feq).trim();
      field = name === 'message' ? null : name;
      rest = rest.slice(feq + 1);
    }
    if (rest === '') return `entry ${JSON.stringify(entry)} has no regular expression`;
    const re = compileUserRegex(rest);
    if (typeof re === 'string') return `${JSON.stringify(rest)} ${re}`;
    rules.push({ files, field, re });
  }
  return rules;
}

/** LOGFERRY_MIN_LEVEL: a level name (any alias normalizeLevel knows), or '' for none. */
export function parseMinLevel(s: string): number | null | string {
  if (s.trim() === '') return null;
  const l = normalizeLevel(s.trim());
  if (l === null) return `must be one of ${Object.keys(LEVEL_ORDER).join(', ')}, got ${JSON.stringify(s)}`;
  return LEVEL_ORDER[l];
}

/**
 * LOGFERRY_REDACT: built-in names and `default` (all of them) separated by `,` or `;`, and
 * `regex:<pattern>[=><replacement>]` entries, which run to the next `;` (a pattern may hold commas).
 */
export function parseRedact(s: string): Detector[] | string {
  const names = new Set<BuiltInRule>();
  const custom: Detector[] = [];
  for (const entry of splitEntries(s)) {
    let rest = entry;
    while (rest !== '') {
      const trimmed = rest.trimStart();
      if (trimmed.startsWith('regex:')) {
        const body = trimmed.slice('regex:'.length);
        const arrow = body.lastIndexOf('=>');
        const pattern = arrow === -1 ? body : body.slice(0, arrow);
        const replacement = arrow === -1 ? null : body.slice(arrow + 2);
        if (pattern === '') return 'regex: needs a pattern (regex:<pattern>[=><replacement>])';
        const re = compileUserRegex(pattern);
        if (typeof re === 'string') return `${JSON.stringify(pattern)} ${re}`;
        if (re.test('')) return `${JSON.stringify(pattern)} matches the empty string`;
        custom.push(customDetector('regex', re, replacement));
        break;
      }
      const comma = trimmed.indexOf(',');
      const name = (comma === -1 ? trimmed : trimmed.slice(0, comma)).trim().toLowerCase();
      rest = comma === -1 ? '' : trimmed.slice(comma + 1);
      if (name === '') continue;
      if (name === 'default' || name === 'all') for (const n of BUILT_IN_RULES) names.add(n);
      else if ((BUILT_IN_RULES as readonly string[]).includes(name)) names.add(name as BuiltInRule);
      else
        return `unknown rule ${JSON.stringify(name)}; use ${BUILT_IN_RULES.join(', ')}, default, or regex:<pattern>`;
    }
  }
  // Built-ins in a fixed order: the private key first (its body holds runs that look like other secrets),
  // a header's whole value before the JWT that may be in it.
  const order: BuiltInRule[] = ['private-key', 'bearer', 'jwt', 'aws-key', 'credit-card', 'iban', 'email'];
  return [...order.filter((n) => names.has(n)).map(builtInDetector), ...custom];
}

export interface RateLimit {
  /** Lines per second, per file. */
  rate: number;
  /** Lines a file may get ahead of the rate. */
  burst: number;
}

/** LOGFERRY_RATE_LIMIT: `<lines per second>[,burst=<lines>]`, or '' for none. */
export function parseRateLimit(s: string): RateLimit | null | string {
  const t = s.trim();
  if (t === '') return null;
  const m = /^(\d+)(?:\s*,\s*burst\s*=\s*(\d+))?$/.exec(t);
  const usage = `expected <lines per second>[,burst=<lines>] (whole numbers from 1 to 10000000), got ${JSON.stringify(s)}`;
  if (m === null) return usage;
  const rate = Number(m[1]);
  const burst = m[2] === undefined ? rate : Number(m[2]);
  if (rate < 1 || rate > 10_000_000 || burst < 1 || burst > 10_000_000) return usage;
  return { rate, burst };
}

/** True when no filter is set: the pipeline keeps its raw path (a lossless rate limit does not need records). */
export function filteringIsOff(o: FilterOptions): boolean {
  return (
    o.drop.trim() === '' &&
    o.keep.trim() === '' &&
    o.minLevel.trim() === '' &&
    o.redact.trim() === '' &&
    o.redactFields.length === 0 &&
    !(o.rateLimit.trim() !== '' && o.rateLimitMode === 'drop')
  );
}
