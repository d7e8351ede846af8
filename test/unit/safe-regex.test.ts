// The static check of user patterns (both modes), the guard detection, and the run-time fallback in a node
// started with REGEX_GUARD_FLAGS (this test process runs without them).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import {
  compileUserRegex,
  REGEX_GUARD_FLAGS,
  regexGuardOn,
  staticProblem,
} from '../../src/parse/safe-regex.js';

const SAFE_REGEX = fileURLToPath(new URL('../../src/parse/safe-regex.ts', import.meta.url));

/** Run `body` (an async function's body, with `safe` the safe-regex module) in a node with `flags`. */
function inNode(flags: readonly string[], body: string, timeoutMs = 20_000): unknown {
  const script = `const safe = await import(${JSON.stringify(SAFE_REGEX)}); const out = await (async () => { ${body} })(); console.log(JSON.stringify(out));`;
  const out = execFileSync(
    process.execPath,
    [...flags, '--import', 'tsx', '--input-type=module', '-e', script],
    {
      encoding: 'utf8',
      timeout: timeoutMs,
    },
  );
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

test('accepted: the patterns people write for logs, and repetitions that cannot be split two ways', () => {
  for (const p of [
    '^(?<ts>\\S+) (?<level>\\w+) (?<msg>.*)$',
    '^\\d{4}-\\d{2}-\\d{2}',
    '^(?<ip>[\\d.]+) - - \\[(?<t>[^\\]]+)\\] "(?<m>\\w+) (?<p>\\S+)"',
    '(?:\\d+\\.)+\\d+', // each repetition must end with a dot the inner \d+ cannot take
    '(\\w+\\s)+$',
    '(a|b)*c',
    '(ab|ac)*',
    '([a-z]|\\d)+',
    '(a?)+', // an empty iteration ends the loop
    '(a{4}){4}',
    'a{15,}',
    '^(x+x+)+y$', // exponential, but not of a form the check knows: left to the run-time fallback
  ]) {
    assert.equal(staticProblem(p), null, p);
    assert.ok(compileUserRegex(p) instanceof RegExp, p);
  }
});

test('refused: nested and overlapping repetitions, backreferences, lookaround, large counts', () => {
  const cases: [string, RegExp][] = [
    ['^(a+)+$', /exponentially/],
    ['(a*)*b', /exponentially/],
    ['(a+)*', /exponentially/],
    ['^(\\w+\\s?)+$', /exponentially/], // \s? can be empty, so \w+ repeats with nothing between
    ['(?:a+|b)+', /exponentially/],
    ['((a+){2})+', /exponentially/],
    ['(a|a)*c', /exponentially/],
    ['(\\w|\\d)+$', /exponentially/], // a digit is also a word character
    ['(ab|ab)*', /exponentially/],
    ['x (?<v>(\\d+)+)', /exponentially/],
    ['(a)\\1', /backreference/],
    ['(?<n>a)\\k<n>', /backreference/],
    ['x(?=y)', /lookahead\/lookbehind/],
    ['(?<!a)b', /lookahead\/lookbehind/],
    ['\\w{2,64}', /too many times/],
    ['a{16,}', /too many times/],
    ['(a{4}){5}', /too many times/],
    ['(a+){15}', /too many times/],
  ];
  for (const [p, why] of cases) {
    const r = compileUserRegex(p);
    assert.equal(typeof r, 'string', `${p} is refused`);
    assert.match(r as string, why, p);
  }
  assert.match(String(compileUserRegex('(a')), /not a valid regular expression/);
});

test('the static rules never accept what V8’s linear-time engine cannot run (asked in a guarded node)', () => {
  const fixed = [
    'a{16}',
    'a{17}',
    'a{0,16}',
    'a{0,17}',
    '(?:ab){20}',
    '(\\d{1,3}\\.){3}\\d{1,3}',
    '(a{2}){8}',
    '(a{2}){9}',
    '(a+){7}',
    '(a+){8}',
    '((a{2}){2}){4}',
    '((a{2}){2}){5}',
    '\\bword\\b',
    '(?<n>x)y*',
    'x(?=y)',
    '(?<=a)b',
    '(a)\\1',
  ];
  const generated = fc.sample(
    fc
      .tuple(fc.nat(8), fc.option(fc.nat(8)), fc.nat(5), fc.option(fc.nat(5)), fc.boolean())
      .map(([a, b, c, d, plus]) => {
        const q = (min: number, max: number | null) => (max === null ? `{${min},}` : `{${min},${min + max}}`);
        return `(?:${plus ? '[xy]' : 'x'}${q(a, b)}y)${q(c, d)}`;
      }),
    { numRuns: 150, seed: 13 },
  );
  const patterns = [...fixed, ...generated];
  const linear = inNode(
    ['--enable-experimental-regexp-engine'],
    `return ${JSON.stringify(patterns)}.map((p) => { try { new RegExp(p, 'l'); return true; } catch { return false; } });`,
  ) as boolean[];
  assert.ok(generated.every((p) => staticProblem(p)?.startsWith('cannot be checked') !== true));
  const runs = linear.slice(fixed.length).filter(Boolean).length;
  assert.ok(runs > 10 && runs < generated.length - 10, `both verdicts among the generated (${runs} run)`);
  patterns.forEach((p, i) => {
    const why = staticProblem(p);
    const says = `${p}: static ${why ?? 'accepts'}, V8's linear engine ${linear[i] ? 'runs it' : 'cannot'}`;
    // Never accepted when the engine cannot run it. The rules may refuse more than a newer engine runs
    // (Node 26's runs lookbehind and larger counts); on Node 20 they refuse exactly what it cannot run.
    if (why === null) assert.equal(linear[i], true, says);
    else if (process.versions.node.startsWith('20.') && !/lookahead|backreference/.test(why))
      assert.equal(linear[i], false, says);
  });
});

test('regexGuardOn reads the launch options, in either spelling', () => {
  assert.equal(regexGuardOn([...REGEX_GUARD_FLAGS]), true);
  assert.equal(regexGuardOn(['--enable_experimental_regexp_engine_on_excessive_backtracks']), true);
  assert.equal(regexGuardOn(['--enable-experimental-regexp-engine']), false);
  assert.equal(regexGuardOn([]), false);
  assert.equal(regexGuardOn(), false, 'this test process runs without the flags');
});

test('with the launch flags, an exponential pattern the static check lets through runs in linear time', () => {
  const ms = inNode(
    REGEX_GUARD_FLAGS,
    `if (!safe.regexGuardOn()) throw new Error('not guarded');
     const re = safe.compileUserRegex('^(x+x+)+y$');
     if (!(re instanceof RegExp)) throw new Error(String(re));
     const t0 = performance.now();
     if (re.test('x'.repeat(100000))) throw new Error('matched');
     if (safe.userRegexesUnguarded()) throw new Error('reported unguarded');
     return performance.now() - t0;`,
  ) as number;
  // A backtracking engine needs 2^n steps here; the bound only catches that, not a slow machine.
  assert.ok(ms < 5000, `took ${ms} ms`);
});
