// Multiline: which line starts a new record, by a start pattern (user regex) or a ready preset.
//
// Presets that need context (a Python traceback's last line, a Go panic's goroutine dump) keep a little
// state per stream. At a start line the state is always the initial one, so a restart at a record boundary
// sees the same records as the first reading.
import { compileUserRegex } from './safe-regex.js';

/** Line → does it start a new record? One instance per stream of a file (presets keep state). */
export type StartRule = (line: string) => boolean;
export type StartRuleFactory = () => StartRule;

export const MULTILINE_PRESETS = ['java', 'python', 'go', 'nodejs', 'timestamp'] as const;

const INDENTED = /^\s/;

/** Java: frames (`\tat ...`), `Caused by:`, `... 12 more`, an exception header after the log line. */
const JAVA_CONTINUATION =
  /^(?:\s|Caused by:|Suppressed:|\.\.\. \d+ (?:more|common frames omitted)|(?:[a-zA-Z_$][\w$]*\.)+[a-zA-Z_$][\w$]*(?:Exception|Error|Throwable)(?::|$))/;
const java: StartRuleFactory = () => (line) => line.length > 0 && !JAVA_CONTINUATION.test(line);

/** Python: `Traceback (most recent call last):`, indented frames, then the exception line; chained ones. */
const PY_CHAIN = /^(?:During handling of the above exception|The above exception was the direct cause)/;
const python: StartRuleFactory = () => {
  let inTraceback = false;
  return (line) => {
    if (line.length === 0 || INDENTED.test(line) || PY_CHAIN.test(line)) return false;
    if (line.startsWith('Traceback (most recent call last):')) {
      inTraceback = true;
      return false;
    }
    if (inTraceback) {
      inTraceback = false; // `ValueError: bad input`, the traceback's last line
      return false;
    }
    return true;
  };
};

/** Go: `panic: ...` / `fatal error: ...`, then goroutine headers, frames and their indented locations. */
const GO_PANIC = /^(?:panic|fatal error): /;
const GO_PANIC_LINE =
  /^(?:\[signal |goroutine \d+ \[|created by |exit status \d+$|\[recovered\]|[^\s(]+\(.*\)(?: \S+)?$)/;
const go: StartRuleFactory = () => {
  let inPanic = false;
  return (line) => {
    if (GO_PANIC.test(line)) {
      inPanic = true;
      return true;
    }
    if (line.length === 0 || INDENTED.test(line)) return false;
    if (inPanic && GO_PANIC_LINE.test(line)) return false;
    inPanic = false;
    return true;
  };
};

/**
 * Node.js: `    at fn (file:1:2)` frames, `{ code: ... }` property blocks, `[cause]`, and the uncaught
 * exception report (`/app/x.js:3`, the source line, `^`, blank, `Error: boom`, frames, `Node.js v20`).
 */
const NODE_HEADER = /^(?:file:\/\/|node:|\/|[A-Za-z]:\\)\S*:\d+$/;
const NODE_ERROR = /^(?:[A-Z]\w*)?(?:Error|Exception)\b/;
const nodejs: StartRuleFactory = () => {
  let afterHeader = 0;
  return (line) => {
    if (NODE_HEADER.test(line)) {
      afterHeader = 4; // source line, caret, blank, error line
      return true;
    }
    if (afterHeader > 0) {
      afterHeader = NODE_ERROR.test(line) ? 0 : afterHeader - 1;
      return false;
    }
    if (line.length === 0 || INDENTED.test(line) || line.startsWith('}') || /^Node\.js v\d/.test(line)) {
      return false;
    }
    return true;
  };
};

/** A line that begins with a date (2026-11-25, 2026/11/25, [2026-11-25, Nov 25 12:00:00, 25/Nov/2026). */
const TIMESTAMP_START =
  /^\[?(?:\d{4}[-/]\d{2}[-/]\d{2}|\d{2}\/[A-Z][a-z]{2}\/\d{4}|[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}|[IWEF]\d{4} \d{2}:)/;
const timestamp: StartRuleFactory = () => (line) => TIMESTAMP_START.test(line);

const PRESETS: Record<(typeof MULTILINE_PRESETS)[number], StartRuleFactory> = {
  java,
  python,
  go,
  nodejs,
  timestamp,
};

/**
 * A LOGFERRY_MULTILINE value → a rule factory; null for `none`; a string is the reason it is refused.
 * A user pattern sees at most `bound` characters of a line.
 */
export function compileMultiline(value: string, bound: number): StartRuleFactory | null | string {
  const v = value.trim();
  const lower = v.toLowerCase();
  if (lower === 'none' || lower === '') return null;
  if (lower === 'node') return PRESETS.nodejs;
  if ((MULTILINE_PRESETS as readonly string[]).includes(lower)) {
    return PRESETS[lower as (typeof MULTILINE_PRESETS)[number]];
  }
  const re = compileUserRegex(v);
  if (typeof re === 'string') {
    return `must be none, a preset (${MULTILINE_PRESETS.join(', ')}) or a start regex; ${JSON.stringify(v)} ${re}`;
  }
  return () => (line) => re.test(line.length > bound ? line.slice(0, bound) : line);
}
