// User-supplied regular expressions that cannot hang the agent: checked at start-up, run with a
// linear-time fallback when node is started with REGEX_GUARD_FLAGS, and shown a bounded input.
//
// V8's backtracking engine can take exponential time on patterns like `^(a+)+$`. Two layers:
// - At start-up, a static check (on the pattern's syntax tree) refuses what cannot have the fallback
//   (backreferences, lookaround, counted repetitions the linear engine cannot unroll) and the nested
//   repetitions that backtrack exponentially (`(a+)+`, `(a*)*`, `(a|a)*`), whatever the node flags.
// - At run time, with REGEX_GUARD_FLAGS on node's command line (the image's ENTRYPOINT), a match that
//   backtracks too much is re-run on V8's linear-time engine; that also covers the polynomial cases.
// The flags are launch options, never set from code: node refuses them in NODE_OPTIONS.
import { createRequire } from 'node:module';

type Regexpp = typeof import('@eslint-community/regexpp');
type AST = import('@eslint-community/regexpp').AST.Node;
type Quantifier = import('@eslint-community/regexpp').AST.Quantifier;

/** node options that give every user pattern V8's linear-time fallback; the Dockerfile passes exactly these. */
export const REGEX_GUARD_FLAGS: readonly string[] = [
  '--enable-experimental-regexp-engine',
  '--enable-experimental-regexp-engine-on-excessive-backtracks',
  '--regexp-backtracks-before-fallback=50000',
];

/** The most V8's linear engine unrolls a counted repetition, nested ones multiplied. */
const MAX_REPLICATION = 16;

let compiled = 0;
let parser: Regexpp | undefined;

/** Loaded on the first user pattern, so an agent without one does not pay for the parser. */
function regexpp(): Regexpp {
  parser ??= createRequire(import.meta.url)('@eslint-community/regexpp') as Regexpp;
  return parser;
}

/** Was node started with the run-time fallback? Options in execArgv may be spelt with `_` or `-`. */
export function regexGuardOn(execArgv: readonly string[] = process.execArgv): boolean {
  const on = REGEX_GUARD_FLAGS[1]!;
  return execArgv.some((a) => a.replace(/_/g, '-') === on);
}

/** True when a user pattern was accepted and node runs without the fallback (worth one warning). */
export function userRegexesUnguarded(): boolean {
  return compiled > 0 && !regexGuardOn();
}

/** V8's flag for its linear-time engine; it exists only with the first of REGEX_GUARD_FLAGS. */
const LINEAR: string = 'l';

/** Does this node accept the LINEAR flag? */
let linearFlag: boolean | undefined;
function hasLinearFlag(): boolean {
  if (linearFlag === undefined) {
    try {
      new RegExp('', LINEAR);
      linearFlag = true;
    } catch {
      linearFlag = false;
    }
  }
  return linearFlag;
}

/** Compile a user pattern, or return why it is refused. Flags: none (the linear engine has no `u` mode). */
export function compileUserRegex(pattern: string): RegExp | string {
  let re: RegExp;
  try {
    re = new RegExp(pattern);
  } catch (err) {
    return `is not a valid regular expression: ${(err as Error).message}`;
  }
  const why = staticProblem(pattern);
  if (why !== null) return why;
  if (hasLinearFlag()) {
    // The static rules mirror the linear engine's; this asks the engine itself, should a node differ.
    try {
      new RegExp(pattern, LINEAR);
    } catch {
      return 'cannot run on the linear-time engine of this node version; simplify it';
    }
  }
  compiled++;
  return re;
}

/** Why the static check refuses a (valid) pattern, or null. */
export function staticProblem(pattern: string): string | null {
  let ast: import('@eslint-community/regexpp').AST.Pattern;
  try {
    ast = new (regexpp().RegExpParser)().parsePattern(pattern, 0, pattern.length, { unicode: false });
  } catch (err) {
    return `cannot be checked: ${(err as Error).message}`;
  }
  let problem: string | null = null;
  const visit = (n: AST, replication: number): void => {
    if (problem !== null) return;
    switch (n.type) {
      case 'Backreference':
      case 'Assertion':
        if (n.type === 'Backreference' || n.kind === 'lookahead' || n.kind === 'lookbehind') {
          problem =
            'uses a construct that can backtrack without bound (backreference or lookahead/lookbehind); ' +
            'rewrite it without them';
          return;
        }
        return;
      case 'Quantifier': {
        const finite = n.max !== Number.POSITIVE_INFINITY;
        const local = finite ? n.max : n.min + 1;
        if (
          n.min > MAX_REPLICATION ||
          (finite && n.max > MAX_REPLICATION) ||
          replication * local > MAX_REPLICATION
        ) {
          problem =
            `repeats a part too many times for the linear-time engine (${n.raw}: at most ${MAX_REPLICATION}, ` +
            'nested counts multiplied); use + or * instead of a large {n,m}';
          return;
        }
        if (!finite && (pumps(n.element) || overlappingAlternatives(n))) {
          problem =
            `nests repetitions so that one input matches in exponentially many ways (${n.raw}), like (a+)+, ` +
            '(a*)* or (a|a)*; repeat once instead, e.g. (a+)+ as a+';
          return;
        }
        visit(n.element, replication * local);
        return;
      }
      case 'Pattern':
      case 'Group':
      case 'CapturingGroup':
        for (const a of n.alternatives) visit(a, replication);
        return;
      case 'Alternative':
        for (const e of n.elements) visit(e, replication);
        return;
      default:
        return;
    }
  };
  visit(ast, 1);
  return problem;
}

/** Can the node match the empty string? (Assertions are zero-width.) */
function nullable(n: AST): boolean {
  switch (n.type) {
    case 'Assertion':
    case 'Backreference':
      return true;
    case 'Quantifier':
      return n.min === 0 || nullable(n.element);
    case 'Group':
    case 'CapturingGroup':
    case 'Pattern':
      return n.alternatives.some(nullable);
    case 'Alternative':
      return n.elements.every(nullable);
    default:
      return false;
  }
}

/**
 * Can the node match a non-empty repetition of an unbounded quantifier with everything else around it
 * empty? Then repeating the node once more splits the same input in exponentially many ways.
 */
function pumps(n: AST): boolean {
  switch (n.type) {
    case 'Quantifier':
      if (n.max === 0) return false;
      if (n.max === Number.POSITIVE_INFINITY && !onlyEmpty(n.element)) return true;
      return pumps(n.element);
    case 'Group':
    case 'CapturingGroup':
      return n.alternatives.some(pumps);
    case 'Alternative':
      return n.elements.some((e, i) => pumps(e) && n.elements.every((o, j) => j === i || nullable(o)));
    default:
      return false;
  }
}

/** Does the node match only the empty string (an empty group, an assertion)? */
function onlyEmpty(n: AST): boolean {
  switch (n.type) {
    case 'Assertion':
      return true;
    case 'Quantifier':
      return n.max === 0 || onlyEmpty(n.element);
    case 'Group':
    case 'CapturingGroup':
      return n.alternatives.every(onlyEmpty);
    case 'Alternative':
      return n.elements.every(onlyEmpty);
    default:
      return false;
  }
}

/**
 * `(x|y)*` where two alternatives are the same text, or are single characters whose sets meet: each
 * repetition can take either, so a failing match tries 2^n ways. Sets are compared on every UTF-16 unit
 * (no `u` flag, so a character set matches one unit).
 */
function overlappingAlternatives(q: Quantifier): boolean {
  let e: AST = q.element;
  while ((e.type === 'Group' || e.type === 'CapturingGroup') && e.alternatives.length === 1) {
    const only: readonly AST[] = e.alternatives[0]!.elements;
    if (only.length !== 1) break;
    e = only[0]!;
  }
  if (e.type !== 'Group' && e.type !== 'CapturingGroup') return false;
  const alts = e.alternatives;
  const raws = alts.map((a) => a.raw);
  if (new Set(raws).size < raws.length) return true;
  const single = alts
    .filter((a) => a.elements.length === 1 && isOneChar(a.elements[0]!))
    .map((a) => new RegExp(`^(?:${a.raw})$`));
  if (single.length < 2) return false;
  const seen = new Uint8Array(0x10000);
  for (const re of single) {
    for (let c = 0; c < 0x10000; c++) {
      if (!re.test(String.fromCharCode(c))) continue;
      if (seen[c] === 1) return true;
      seen[c] = 1;
    }
  }
  return false;
}

function isOneChar(n: AST): boolean {
  return n.type === 'Character' || n.type === 'CharacterSet' || n.type === 'CharacterClass';
}

/** Names of the named capture groups of a pattern, in order. */
export function groupNames(pattern: string): string[] {
  const names: string[] = [];
  const re = /\(\?<([A-Za-z_$][\w$]*)>/g;
  for (let m = re.exec(pattern); m !== null; m = re.exec(pattern)) names.push(m[1]!);
  return names;
}
