// The filter stage between parse and batch: drop/keep, minimum level, rate-limit drops, then redaction.
import type { AckTracker } from '../checkpoint/ack-tracker.js';
import type { Fields } from '../parse/parsers.js';
import type { ParsedRecord, ParseSource, RecordSink } from '../parse/stage.js';
import { DropLimiter } from './rate-limit.js';
import { type Detector, marker, PEM_BEGIN, PEM_END } from './redact.js';
import {
  type FilterOptions,
  LEVEL_ORDER,
  type MatchRule,
  parseMatchRules,
  parseMinLevel,
  parseRateLimit,
  parseRedact,
} from './rules.js';

/** Why a record was not sent (the `rule` label of logferry_records_dropped_total). */
export type DropRule = 'drop' | 'keep' | 'min_level' | 'rate_limit';

/** A PEM block that never ends stops blanking the records after it after this many records. */
const PEM_MAX_RECORDS = 512;

/** Rate-limit summaries: one per file and this interval at most. */
export const SUMMARY_INTERVAL_MS = 1000;

interface Summary {
  src: ParseSource;
  tracker: AckTracker;
  /** The first dropped record: its offset, id prefix and labels are the summary's. */
  first: ParsedRecord;
  /** Where the last dropped record ends: the summary covers the file up to here. */
  ack: number;
  dropped: number;
  since: number;
}

const FIELD_MARKER = marker('field');
const PEM_MARKER = marker('private-key');

interface FileState {
  /** Inside a private key that began in an earlier record: records are blanked until its END line. */
  pemRecords: number;
  summary: Summary | null;
  drop: MatchRule[];
  keep: MatchRule[];
  /** Records of this file not sent. */
  dropped: number;
}

interface Compiled {
  drop: MatchRule[];
  keep: MatchRule[];
  minLevel: number | null;
  detectors: Detector[];
  privateKey: boolean;
  fieldNames: Set<string>;
  fieldPairs: RegExp | null;
  limiter: DropLimiter | null;
}

/** Compile the options; throws an Error naming the variable (the configuration was checked first). */
function compile(o: FilterOptions): Compiled {
  const must = <T>(v: T | string, variable: string): T => {
    if (typeof v === 'string') throw new Error(`${variable}: ${v}`);
    return v;
  };
  const detectors = must(parseRedact(o.redact), 'LOGFERRY_REDACT');
  const names = o.redactFields.map((f) => f.toLowerCase());
  const limit = must(parseRateLimit(o.rateLimit), 'LOGFERRY_RATE_LIMIT');
  return {
    drop: must(parseMatchRules(o.drop), 'LOGFERRY_DROP'),
    keep: must(parseMatchRules(o.keep), 'LOGFERRY_KEEP'),
    minLevel: must(parseMinLevel(o.minLevel), 'LOGFERRY_MIN_LEVEL'),
    detectors,
    privateKey: detectors.some((d) => d.name === 'private-key'),
    fieldNames: new Set(names),
    fieldPairs: names.length === 0 ? null : fieldPairsRegex(names),
    limiter: limit !== null && o.rateLimitMode === 'drop' ? new DropLimiter(limit) : null,
  };
}

/** `name=value`, `name: value` and `"name":"value"` in a message, for LOGFERRY_REDACT_FIELDS. */
function fieldPairsRegex(names: string[]): RegExp {
  const alt = names.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
  return new RegExp(
    `((?<![\\w.-])["']?(?:${alt})["']?\\s*[:=]\\s*)("(?:[^"\\\\]|\\\\.)*"|'[^']*'|(?!\\[REDACTED:)[^\\s,;&}]+)`,
    'gi',
  );
}

export class FilterStage {
  private readonly c: Compiled;
  private readonly states = new WeakMap<ParseSource, FileState>();
  private readonly pending = new Set<FileState>();
  private timer: NodeJS.Timeout | null = null;
  /** Records not sent, per rule. */
  readonly dropped: Record<DropRule, number> = { drop: 0, keep: 0, min_level: 0, rate_limit: 0 };
  /** Replacements made, per rule (`field` for LOGFERRY_REDACT_FIELDS). */
  readonly redactions = new Map<string, number>();

  constructor(
    o: FilterOptions,
    private readonly next: RecordSink,
    /** A record that is not sent: the file is covered up to `ack` once what was before is acknowledged. */
    private readonly skip: (tracker: AckTracker, ack: number) => void,
  ) {
    this.c = compile(o);
    this.counts = this.c.detectors.map((d) => this.counter(d.name));
    this.fieldCount = this.counter('field');
    this.pemCount = this.counter('private-key');
  }

  /** The counter of each detector, in the detectors' order, and of the field and private-key rules. */
  private readonly counts: ((n: number) => void)[];
  private readonly fieldCount: (n: number) => void;
  private readonly pemCount: (n: number) => void;

  /** Records of this file not sent (filters and rate-limit drops). */
  droppedFrom(src: ParseSource): number {
    return this.states.get(src)?.dropped ?? 0;
  }

  /** The stage's input (a RecordSink). */
  readonly record = (src: ParseSource, rec: ParsedRecord, tracker: AckTracker, ack: number): void => {
    let st = this.states.get(src);
    if (st === undefined) {
      st = this.open(src);
      this.states.set(src, st);
    }
    const rule = this.verdict(st, src, rec);
    const summary = st.summary;
    if (summary !== null && summary.tracker !== tracker) this.emitSummary(st);
    if (rule !== null) {
      this.count(rule, st);
      // While drops are summarised, the summary covers the file up to here (it is sent first).
      if (st.summary !== null) st.summary.ack = ack;
      else this.skip(tracker, ack);
      return;
    }
    const limiter = this.c.limiter;
    if (limiter !== null) {
      const now = Date.now();
      if (st.summary !== null && now - st.summary.since >= SUMMARY_INTERVAL_MS) this.emitSummary(st);
      if (!limiter.take(src, now)) {
        this.count('rate_limit', st);
        if (st.summary === null) {
          st.summary = { src, tracker, first: rec, ack, dropped: 1, since: now };
          this.pending.add(st);
          this.timer ??= setInterval(() => this.onTimer(), SUMMARY_INTERVAL_MS / 4);
        } else {
          st.summary.dropped++;
          st.summary.ack = ack;
        }
        return;
      }
      if (st.summary !== null) this.emitSummary(st);
    }
    this.redact(st, rec);
    this.next(src, rec, tracker, ack);
  };

  /** Summaries of drops so far go now (a file finished, or the agent stops). */
  flush(): void {
    for (const st of this.pending) this.emitSummary(st);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private open(src: ParseSource): FileState {
    const applies = (r: MatchRule) => r.files === null || r.files(src.path);
    return {
      pemRecords: 0,
      summary: null,
      drop: this.c.drop.filter(applies),
      keep: this.c.keep.filter(applies),
      dropped: 0,
    };
  }

  private verdict(st: FileState, src: ParseSource, rec: ParsedRecord): DropRule | null {
    const min = this.c.minLevel;
    if (min !== null && rec.level !== null && LEVEL_ORDER[rec.level as keyof typeof LEVEL_ORDER] < min)
      return 'min_level';
    for (const r of st.drop) if (matches(r, src, rec)) return 'drop';
    if (st.keep.length > 0 && !st.keep.some((r) => matches(r, src, rec))) return 'keep';
    return null;
  }

  private count(rule: DropRule, st: FileState): void {
    this.dropped[rule]++;
    st.dropped++;
  }

  private readonly counters = new Map<string, (n: number) => void>();

  private counter(name: string): (n: number) => void {
    let c = this.counters.get(name);
    if (c === undefined) {
      c = (n) => this.redactions.set(name, (this.redactions.get(name) ?? 0) + n);
      this.counters.set(name, c);
    }
    return c;
  }

  private emitSummary(st: FileState): void {
    const s = st.summary;
    if (s === null) return;
    st.summary = null;
    this.pending.delete(st);
    if (this.pending.size === 0) this.stop();
    const limit = this.c.limiter?.limit.rate ?? 0;
    const rec: ParsedRecord = {
      ...s.first,
      message: `logferry: ${s.dropped} lines of this file dropped over LOGFERRY_RATE_LIMIT (${limit} lines per second)`,
      bytes: 0,
      stream: null,
      level: 'warn',
      fields: { dropped: s.dropped },
      fieldsJson: null,
      parseError: false,
      cut: false,
    };
    this.next(s.src, rec, s.tracker, s.ack);
  }

  private onTimer(): void {
    const before = Date.now() - SUMMARY_INTERVAL_MS;
    for (const st of this.pending)
      if (st.summary !== null && st.summary.since <= before) this.emitSummary(st);
  }

  /** Message and fields, in place. */
  private redact(st: FileState, rec: ParsedRecord): void {
    let text = rec.message;
    if (st.pemRecords > 0) text = this.pemContinued(st, text);
    if (this.c.privateKey && text.includes('-----BEGIN') && endsInsideKey(text)) st.pemRecords = 1;
    const ds = this.c.detectors;
    for (let i = 0; i < ds.length; i++) text = ds[i]!.apply(text, this.counts[i]!);
    const pairs = this.c.fieldPairs;
    if (pairs !== null) text = redactPairs(pairs, text, this.fieldCount);
    rec.message = text;
    if (rec.fields !== null && (this.c.detectors.length > 0 || this.c.fieldNames.size > 0)) {
      if (this.redactValue(rec.fields)) rec.fieldsJson = null;
    }
  }

  /** A record after a private key's BEGIN: blanked up to and including its END. */
  private pemContinued(st: FileState, text: string): string {
    const end = PEM_END.exec(text);
    this.pemCount(1);
    if (end === null) {
      st.pemRecords = st.pemRecords >= PEM_MAX_RECORDS ? 0 : st.pemRecords + 1;
      return PEM_MARKER;
    }
    st.pemRecords = 0;
    return PEM_MARKER + text.slice(end.index + end[0].length);
  }

  /** Redacts strings in an object tree in place; true when anything changed. */
  private redactValue(o: Fields | unknown[]): boolean {
    let changed = false;
    const names = this.c.fieldNames;
    const keys = Array.isArray(o) ? o.keys() : Object.keys(o);
    for (const k of keys) {
      const v = (o as Record<string | number, unknown>)[k];
      if (typeof k === 'string' && names.has(k.toLowerCase()) && v !== null) {
        (o as Record<string, unknown>)[k] = FIELD_MARKER;
        this.fieldCount(1);
        changed = true;
      } else if (typeof v === 'string') {
        let s = v;
        const ds = this.c.detectors;
        for (let i = 0; i < ds.length; i++) s = ds[i]!.apply(s, this.counts[i]!);
        if (s !== v) {
          (o as Record<string | number, unknown>)[k] = s;
          changed = true;
        }
      } else if (v !== null && typeof v === 'object') {
        if (this.redactValue(v as Fields)) changed = true;
      }
    }
    return changed;
  }

  /** For the metrics: records not sent per rule, replacements per rule. */
  stats(): { dropped: Readonly<Record<DropRule, number>>; redactions: ReadonlyMap<string, number> } {
    return { dropped: this.dropped, redactions: this.redactions };
  }
}

/** A BEGIN of a private key with no END after it. */
function endsInsideKey(text: string): boolean {
  const begin = text.lastIndexOf('-----BEGIN');
  const tail = text.slice(begin);
  return PEM_BEGIN.test(tail) && !PEM_END.test(tail);
}

function redactPairs(re: RegExp, text: string, count: (n: number) => void): string {
  re.lastIndex = 0;
  let n = 0;
  const out = text.replace(re, (_m, prefix: string, value: string) => {
    n++;
    const quote = value[0] === '"' || value[0] === "'" ? value[0] : '';
    return `${prefix}${quote}${FIELD_MARKER}${quote}`;
  });
  if (n > 0) count(n);
  return out;
}

function matches(r: MatchRule, src: ParseSource, rec: ParsedRecord): boolean {
  if (r.field === null) return r.re.test(rec.message);
  const v = fieldValue(r.field, src, rec);
  return v !== undefined && r.re.test(v);
}

/** `level`, `stream` and `file` are the record's own; other names are parsed fields (`a.b` nests). */
function fieldValue(name: string, src: ParseSource, rec: ParsedRecord): string | undefined {
  if (name === 'level') return rec.level ?? undefined;
  if (name === 'stream') return rec.stream ?? undefined;
  if (name === 'file') return src.path;
  if (rec.fields === null) return undefined;
  let v: unknown = Object.hasOwn(rec.fields, name) ? rec.fields[name] : undefined;
  if (v === undefined && name.includes('.')) {
    v = rec.fields;
    for (const part of name.split('.')) {
      if (v === null || typeof v !== 'object' || !Object.hasOwn(v, part)) return undefined;
      v = (v as Fields)[part];
    }
  }
  if (v === undefined || v === null) return undefined;
  return typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
}
