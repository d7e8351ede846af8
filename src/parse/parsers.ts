// Parsers: a record's text → fields, for `json`, `logfmt`, `regex:<pattern>` and the container formats.
//
// The container log formats `cri` and `docker` wrap an application's line; an inner parser may follow
// (`cri+json`).
import { compileUserRegex, groupNames } from './safe-regex.js';

export type Fields = Record<string, unknown>;

/** What a parser found: the fields, and their JSON when the input already is it (no re-encoding). */
export interface ParseResult {
  fields: Fields;
  json: string | null;
}

/** Text → fields, or null when the text is not in the parser's format. */
export type InnerParser = (text: string) => ParseResult | null;

export type ContainerFormat = 'cri' | 'docker';

export interface ParserSpec {
  /** The spec as written (for logs). */
  text: string;
  container: ContainerFormat | null;
  /** Parses the application's text; null for `none`. */
  inner: InnerParser | null;
  /** The inner parser reads the first line of a multiline record only (logfmt, regex). */
  firstLineOnly: boolean;
}

/** Deeper JSON is not parsed (JSON.stringify of it would overflow the stack); shipped raw, flagged. */
export const MAX_JSON_DEPTH = 64;

/** Depth of nested objects/arrays in JSON text, scanning no further than `limit` levels. */
export function jsonDepthExceeds(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) {
      inString = true;
    } else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > limit) return true;
    } else if (c === 125 /* } */ || c === 93 /* ] */) {
      depth--;
    }
  }
  return false;
}

export const parseJson: InnerParser = (text) => {
  let i = 0;
  while (i < text.length && (text.charCodeAt(i) === 32 || text.charCodeAt(i) === 9)) i++;
  if (text.charCodeAt(i) !== 123 /* { */) return null;
  if (jsonDepthExceeds(text, MAX_JSON_DEPTH)) return null;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
  // A one-line JSON object is valid JSON inside an NDJSON line as it is; a pretty-printed one is not.
  const oneLine = text.indexOf('\n') === -1 && text.indexOf('\r') === -1;
  return { fields: v as Fields, json: oneLine ? text.trim() : null };
};

/** logfmt: `key=value key2="quoted \"value\"" flag`. Needs at least one key=value pair. */
export const parseLogfmt: InnerParser = (text) => {
  const fields: Fields = Object.create(null) as Fields;
  let pairs = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    while (i < n && isSpace(text.charCodeAt(i))) i++;
    if (i >= n) break;
    const keyStart = i;
    while (i < n && !isSpace(text.charCodeAt(i)) && text[i] !== '=' && text[i] !== '"') i++;
    const key = text.slice(keyStart, i);
    if (key.length === 0) return null; // a stray '=' or quote
    if (i >= n || text[i] !== '=') {
      if (i < n && text[i] === '"') return null;
      fields[key] = true;
      continue;
    }
    i++; // '='
    if (text[i] === '"') {
      let value = '';
      let j = i + 1;
      let closed = false;
      let from = j;
      while (j < n) {
        const c = text[j];
        if (c === '\\' && j + 1 < n) {
          const e = text[j + 1]!;
          value += text.slice(from, j) + (e === 'n' ? '\n' : e === 't' ? '\t' : e === 'r' ? '\r' : e);
          j += 2;
          from = j;
        } else if (c === '"') {
          value += text.slice(from, j);
          closed = true;
          break;
        } else {
          j++;
        }
      }
      if (!closed) return null;
      fields[key] = value;
      i = j + 1;
      if (i < n && !isSpace(text.charCodeAt(i))) return null;
    } else {
      const valueStart = i;
      while (i < n && !isSpace(text.charCodeAt(i))) i++;
      const value = text.slice(valueStart, i);
      if (value.includes('"')) return null;
      fields[key] = value;
    }
    pairs++;
  }
  return pairs > 0 ? { fields, json: null } : null;
};

function isSpace(c: number): boolean {
  return c === 32 || c === 9;
}

/** A regex with named groups; the groups that took part in the match become fields. */
export function regexParser(re: RegExp, names: string[]): InnerParser {
  return (text) => {
    const m = re.exec(text);
    if (m === null) return null;
    const fields: Fields = Object.create(null) as Fields;
    const g = m.groups ?? {};
    for (const name of names) if (g[name] !== undefined) fields[name] = g[name];
    return { fields, json: null };
  };
}

/** One line of a container runtime's log file, unwrapped. */
export interface ContainerLine {
  content: string;
  stream: string;
  /** The runtime's timestamp (RFC 3339), as written. */
  time: string;
  /** The runtime split a long line; the rest follows on the next line of this stream. */
  partial: boolean;
}

/** containerd / CRI-O: `2026-11-25T12:00:00.123456789Z stdout F the line` (tags P = partial, F = full). */
export function decodeCri(line: string): ContainerLine | null {
  const a = line.indexOf(' ');
  if (a < 20 || a > 40) return null;
  const b = line.indexOf(' ', a + 1);
  if (b === -1) return null;
  const stream = line.slice(a + 1, b);
  if (stream !== 'stdout' && stream !== 'stderr') return null;
  let c = line.indexOf(' ', b + 1);
  if (c === -1) c = line.length;
  const tags = line.slice(b + 1, c);
  const tag = tags.charCodeAt(0);
  if ((tag !== 80 /* P */ && tag !== 70) /* F */ || (tags.length > 1 && tags[1] !== ':')) return null;
  const time = line.slice(0, a);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(time)) return null;
  return { content: line.slice(Math.min(c + 1, line.length)), stream, time, partial: tag === 80 };
}

/** Docker json-file: `{"log":"the line\n","stream":"stdout","time":"..."}`; no final \n = partial. */
export function decodeDocker(line: string): ContainerLine | null {
  if (line.charCodeAt(0) !== 123 /* { */) return null;
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return null;
  }
  if (v === null || typeof v !== 'object') return null;
  const o = v as { log?: unknown; stream?: unknown; time?: unknown };
  if (typeof o.log !== 'string' || typeof o.stream !== 'string' || typeof o.time !== 'string') return null;
  // As for CRI: Docker writes only these two. Any other value is not a runtime line, and must not open a
  // stream of its own (a per-stream multiline state; a `stream` value per record downstream).
  if (o.stream !== 'stdout' && o.stream !== 'stderr') return null;
  const full = o.log.endsWith('\n');
  let content = full ? o.log.slice(0, -1) : o.log;
  if (full && content.endsWith('\r')) content = content.slice(0, -1);
  return { content, stream: o.stream, time: o.time, partial: !full };
}

const INNER = ['none', 'json', 'logfmt', 'regex:<pattern>'];

/** A LOGFERRY_PARSER value → the parser, or the reason it is refused. */
export function parseParserSpec(spec: string): ParserSpec | string {
  const text = spec.trim();
  let container: ContainerFormat | null = null;
  let rest = text;
  for (const f of ['cri', 'docker'] as const) {
    if (rest.toLowerCase() === f) return { text, container: f, inner: null, firstLineOnly: false };
    if (rest.toLowerCase().startsWith(`${f}+`)) {
      container = f;
      rest = rest.slice(f.length + 1);
      break;
    }
  }
  const lower = rest.toLowerCase();
  if (lower === 'none') return { text, container, inner: null, firstLineOnly: false };
  if (lower === 'json') return { text, container, inner: parseJson, firstLineOnly: false };
  if (lower === 'logfmt') return { text, container, inner: parseLogfmt, firstLineOnly: true };
  if (lower.startsWith('regex:')) {
    const pattern = rest.slice('regex:'.length);
    const names = groupNames(pattern);
    if (names.length === 0) return `regex ${JSON.stringify(pattern)} has no named group (?<name>...)`;
    const re = compileUserRegex(pattern);
    if (typeof re === 'string') return `regex ${JSON.stringify(pattern)} ${re}`;
    return { text, container, inner: regexParser(re, names), firstLineOnly: true };
  }
  return `unknown parser ${JSON.stringify(text)}; expected ${INNER.join(', ')}, cri or docker (optionally cri+<parser>, docker+<parser>)`;
}
