// The parse stage between the tailers and the batcher: per file, lines → records → fields, time, level.
//
// Records are container lines unwrapped and multiline records joined; they go on to the sink's encoder.
import type { AckTracker } from '../checkpoint/ack-tracker.js';
import type { LogRecord } from '../sinks/sink.js';
import { type AssembledRecord, RecordAssembler } from './assembler.js';
import { fileGlob } from './enrich.js';
import { normalizeLevel } from './level.js';
import { compileMultiline, type StartRuleFactory } from './multiline.js';
import { type Fields, type ParserSpec, parseParserSpec } from './parsers.js';
import { compileUserRegex, groupNames } from './safe-regex.js';
import { compileTimeFormat, type TimeParser } from './time.js';

export interface ParseOptions {
  /** LOGFERRY_PARSER: the parser of files no LOGFERRY_PARSERS pattern takes. */
  parser: string;
  /** LOGFERRY_PARSERS: the first matching glob chooses the parser. */
  parsers: { glob: string; parser: string }[];
  multiline: string;
  multilineTimeoutMs: number;
  multilineMaxLines: number;
  multilineMaxBytes: number;
  /** Records longer than this are not parsed (shipped raw, flagged); regexes see no more of a line. */
  parseMaxBytes: number;
  timeField: string[];
  timeFormat: string;
  levelField: string[];
  /** LOGFERRY_PATH_LABELS: a regex over the file path; its named groups become labels. */
  pathLabels: string;
}

/** What the stage needs of a tailed file (the Tailer has all of it). */
export interface ParseSource {
  readonly path: string;
  readonly fileJson: string;
  readonly idPrefix: string;
  readonly ack: AckTracker;
  /** Read time of the current chunk, RFC 3339. */
  readonly timestamp: string;
  /** The file is finished (rotated away and read to its end): pending records are flushed. */
  readonly finishing: boolean;
}

/** A record as the encoders take it. */
export interface ParsedRecord {
  /** Event time (parsed, or the container runtime's) or read time; RFC 3339 UTC. */
  timestamp: string;
  offset: number;
  /** The record's id is idPrefix + offset. */
  idPrefix: string;
  /** The original text: the line, or the whole multiline record joined with \n. */
  message: string;
  /** UTF-8 bytes of the file the record covers. */
  bytes: number;
  stream: string | null;
  level: string | null;
  fields: Fields | null;
  /** `fields` as JSON when the line already was that JSON (encoders may use it as is). */
  fieldsJson: string | null;
  parseError: boolean;
  cut: boolean;
  /** Labels of this file (static + Kubernetes + path labels) as a JSON object; null: the static ones. */
  labelsJson: string | null;
  labels: Record<string, string> | null;
}

export type RecordSink = (src: ParseSource, rec: ParsedRecord, tracker: AckTracker, ack: number) => void;

const containerTime = compileTimeFormat('rfc3339') as TimeParser;

interface FileState {
  src: ParseSource;
  tracker: AckTracker;
  spec: ParserSpec;
  assembler: RecordAssembler;
  labels: Record<string, string> | null;
  labelsJson: string | null;
}

interface Compiled {
  defaultSpec: ParserSpec;
  rules: { match: (path: string) => boolean; spec: ParserSpec }[];
  multiline: StartRuleFactory | null;
  time: TimeParser;
  pathLabels: { re: RegExp; names: string[] } | null;
}

/** Compile the options; throws an Error naming the variable when one is refused (config validated first). */
function compile(o: ParseOptions): Compiled {
  const spec = (s: string, variable: string): ParserSpec => {
    const p = parseParserSpec(s);
    if (typeof p === 'string') throw new Error(`${variable}: ${p}`);
    return p;
  };
  const multiline = compileMultiline(o.multiline, o.parseMaxBytes);
  if (typeof multiline === 'string') throw new Error(`LOGFERRY_MULTILINE: ${multiline}`);
  const time = compileTimeFormat(o.timeFormat);
  if (typeof time === 'string') throw new Error(`LOGFERRY_TIME_FORMAT: ${time}`);
  let pathLabels: Compiled['pathLabels'] = null;
  if (o.pathLabels !== '') {
    const re = compileUserRegex(o.pathLabels);
    if (typeof re === 'string') throw new Error(`LOGFERRY_PATH_LABELS: ${re}`);
    pathLabels = { re, names: groupNames(o.pathLabels) };
  }
  return {
    defaultSpec: spec(o.parser, 'LOGFERRY_PARSER'),
    rules: o.parsers.map((r) => ({
      match: fileGlob(r.glob),
      spec: spec(r.parser, 'LOGFERRY_PARSERS'),
    })),
    multiline,
    time,
    pathLabels,
  };
}

/** True when the options change nothing: the pipeline then skips the stage (the raw fast path). */
export function parsingIsOff(o: ParseOptions): boolean {
  return (
    o.parser.trim().toLowerCase() === 'none' &&
    o.parsers.length === 0 &&
    ['none', ''].includes(o.multiline.trim().toLowerCase()) &&
    o.pathLabels === ''
  );
}

export class ParseStage {
  private readonly c: Compiled;
  private readonly states = new WeakMap<ParseSource, FileState>();
  /** Files with pending records (multiline, partial container lines): watched by the timeout. */
  private readonly pending = new Set<FileState>();
  private timer: NodeJS.Timeout | null = null;
  parseErrors = 0;

  constructor(
    private readonly o: ParseOptions,
    private readonly staticLabels: Record<string, string>,
    private readonly out: RecordSink,
    /** Memory budget: bytes held in pending records. */
    private readonly charge: (delta: number) => void,
  ) {
    this.c = compile(o);
  }

  line(src: ParseSource, text: string, rawBytes: number, offset: number, next: number, cut: boolean): void {
    let st = this.states.get(src);
    if (st === undefined) {
      st = this.open(src);
      this.states.set(src, st);
    } else if (st.tracker !== src.ack) {
      // The file was truncated: a new generation with its own tracker. The old one's records go first.
      st.assembler.flushAll();
      this.pending.delete(st);
      st.tracker = src.ack;
      st.assembler = this.assembler(st, src.ack.committed);
    }
    st.assembler.push({
      text,
      bytes: rawBytes,
      offset,
      next,
      cut,
      readTime: src.timestamp,
      idPrefix: src.idPrefix,
    });
    if (st.assembler.pending) {
      this.pending.add(st);
      this.timer ??= setInterval(
        () => this.onTimer(),
        Math.max(10, Math.floor(this.o.multilineTimeoutMs / 4)),
      );
    } else {
      this.pending.delete(st);
    }
  }

  /** Emit pending records of finished files, or of every file when `all` (the agent stops). */
  flush(all: boolean): void {
    for (const st of this.pending) {
      if (all || st.src.finishing) {
        st.assembler.flushAll();
        this.pending.delete(st);
      }
    }
    this.idle();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Bytes held in pending records. */
  get pendingBytes(): number {
    let n = 0;
    for (const st of this.pending) n += st.assembler.pendingBytes;
    return n;
  }

  private onTimer(): void {
    const before = Date.now() - this.o.multilineTimeoutMs;
    for (const st of this.pending) {
      if (st.assembler.oldestPendingAt() > before) continue;
      st.assembler.flushIdle(before);
      if (!st.assembler.pending) this.pending.delete(st);
    }
    this.idle();
  }

  private idle(): void {
    if (this.pending.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private open(src: ParseSource): FileState {
    let spec = this.c.defaultSpec;
    for (const r of this.c.rules) {
      if (r.match(src.path)) {
        spec = r.spec;
        break;
      }
    }
    let labels: Record<string, string> | null = null;
    const pl = this.c.pathLabels;
    if (pl !== null) {
      const m = pl.re.exec(src.path.length > this.o.parseMaxBytes ? '' : src.path);
      if (m?.groups) {
        labels = { ...this.staticLabels };
        for (const n of pl.names) if (m.groups[n] !== undefined) labels[n] = m.groups[n];
      }
    }
    const st: FileState = {
      src,
      tracker: src.ack,
      spec,
      assembler: null as unknown as RecordAssembler,
      labels,
      labelsJson: labels && Object.keys(labels).length > 0 ? JSON.stringify(labels) : null,
    };
    st.assembler = this.assembler(st, src.ack.committed);
    return st;
  }

  private assembler(st: FileState, start: number): RecordAssembler {
    const tracker = st.tracker;
    return new RecordAssembler(
      {
        container: st.spec.container,
        multiline: this.c.multiline,
        maxLines: this.o.multilineMaxLines,
        maxBytes: this.o.multilineMaxBytes,
      },
      (rec, ack) => this.out(st.src, this.parse(st, rec), tracker, ack),
      start,
      this.charge,
    );
  }

  /** Fields, event time and level of an assembled record. */
  parse(st: FileState, rec: AssembledRecord): ParsedRecord {
    const r: ParsedRecord = {
      timestamp: rec.readTime,
      offset: rec.offset,
      idPrefix: rec.idPrefix,
      message: rec.text,
      bytes: rec.bytes,
      stream: rec.stream,
      level: null,
      fields: null,
      fieldsJson: null,
      parseError: rec.containerError,
      cut: rec.cut,
      labelsJson: st.labelsJson,
      labels: st.labels,
    };
    if (rec.containerTime !== null) r.timestamp = containerTime(rec.containerTime) ?? rec.readTime;
    const inner = st.spec.inner;
    if (inner === null || rec.raw || rec.containerError) {
      if (r.parseError) this.parseErrors++;
      return r;
    }
    let text = rec.text;
    if (st.spec.firstLineOnly && rec.lines > 1) {
      const nl = text.indexOf('\n');
      if (nl !== -1) text = text.slice(0, nl);
    }
    const result = text.length > this.o.parseMaxBytes ? null : inner(text);
    if (result === null) {
      r.parseError = true;
      this.parseErrors++;
      return r;
    }
    r.fields = result.fields;
    r.fieldsJson = result.json;
    for (const name of this.o.timeField) {
      const v = lookup(result.fields, name);
      if (v === undefined) continue;
      const t = this.c.time(v);
      if (t !== null) {
        r.timestamp = t;
        break;
      }
    }
    for (const name of this.o.levelField) {
      const v = lookup(result.fields, name);
      if (v === undefined) continue;
      r.level = normalizeLevel(v);
      if (r.level !== null) break;
    }
    return r;
  }
}

/** A field by name; `a.b` also looks into nested objects. */
function lookup(fields: Fields, name: string): unknown {
  if (Object.hasOwn(fields, name)) return fields[name];
  if (!name.includes('.')) return undefined;
  let v: unknown = fields;
  for (const part of name.split('.')) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, part)) return undefined;
    v = (v as Fields)[part];
  }
  return v;
}

/** A record of the parse stage as every sink takes it. */
export function toLogRecord(file: string, r: ParsedRecord): LogRecord {
  const record: LogRecord = {
    message: r.message,
    file,
    offset: r.offset,
    id: `${r.idPrefix}${r.offset}`,
    timestamp: r.timestamp,
    cut: r.cut,
  };
  if (r.labels !== null) record.labels = r.labels;
  if (r.level !== null) record.level = r.level;
  if (r.fields !== null) record.fields = r.fields;
  if (r.fieldsJson !== null) record.fieldsJson = r.fieldsJson;
  if (r.stream !== null) record.stream = r.stream;
  if (r.parseError) record.parseError = true;
  return record;
}
