// User-supplied regular expressions that cannot hang the agent: checked at start-up, run with a
// linear-time fallback, and shown a bounded input.
//
// V8's backtracking engine can take exponential time on patterns like `^(a+)+$`. V8 also has a
// linear-time engine; with the flags below, a match that backtracks too much is re-run on it. Patterns
// the linear engine cannot run (backreferences, lookaround) are refused at start-up, so every user
// pattern has that fallback. Presets are written by us and run on the normal engine.
import v8 from 'node:v8';

let flagsSet = false;

function setEngineFlags(): void {
  if (flagsSet) return;
  flagsSet = true;
  v8.setFlagsFromString('--enable-experimental-regexp-engine');
  v8.setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');
  v8.setFlagsFromString('--regexp-backtracks-before-fallback=50000');
}

/** Compile a user pattern, or return why it is refused. Flags: none (the linear engine has no `u` mode). */
export function compileUserRegex(pattern: string): RegExp | string {
  setEngineFlags();
  let re: RegExp;
  try {
    re = new RegExp(pattern);
  } catch (err) {
    return `is not a valid regular expression: ${(err as Error).message}`;
  }
  try {
    new RegExp(pattern, 'l');
  } catch {
    return (
      'uses a construct that can backtrack without bound (backreference or lookahead/lookbehind); ' +
      'rewrite it without them'
    );
  }
  return re;
}

/** Names of the named capture groups of a pattern, in order. */
export function groupNames(pattern: string): string[] {
  const names: string[] = [];
  const re = /\(\?<([A-Za-z_$][\w$]*)>/g;
  for (let m = re.exec(pattern); m !== null; m = re.exec(pattern)) names.push(m[1]!);
  return names;
}
