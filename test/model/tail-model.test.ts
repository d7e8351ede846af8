// Model-based test of the tail and checkpoint machinery (issue 12), in the spirit of Vector's file-source
// model tests: fast-check generates action sequences that run against the real agent (dist/main.js), real
// files in a temp dir and a real, switchable HTTP collector on 127.0.0.1.
//
// Actions: append whole lines, append half a line (completed by the next write to that file), create a file
// (empty or not), rename-rotate (to `<name>.<n>`, then a new empty file), copytruncate, truncate, delete,
// idle (catch up when the agent can deliver, then let time pass), SIGKILL or SIGTERM then restart
// (at once or a few actions later), collector accept / down (503, connection reset, port closed), collector
// 401, a poison record (400 for any body holding it), a symlink to a file outside the roots (or
// /proc/self/environ), a symlink inside the roots swapped to the outside file, LOGFERRY_START_AT=end, and ids
// across two contents of one inode ('id-salt'). See docs/testing.md.
//
// Invariants, checked once the collector accepts again and every line arrived or a deadline passed:
// every line written to a watched file arrived in a 2xx'd request (a poison line: in the dead-letter file),
// only poison lines are dead-lettered, nothing from outside the roots is ever sent, a checkpoint read after
// every action and every kill never passes a line that was not acknowledged, each line keeps one id and no
// id names two lines, each record's offset is where its line was written, and SIGTERM exits 0.
//
// Lines any shipper may lose are marked so, not required: lines not yet delivered when their file is
// truncated, copytruncated, deleted or rotated while the agent cannot deliver (it is down, or the collector
// is), lines left unread in a rotated or deleted file when the agent is stopped, and lines already there at
// a start with no state under START_AT=end. When the agent can deliver, those actions first wait for it to
// catch up (copytruncate then copies and truncates with no write in between), so no line is lost by the race;
// after a truncation the model waits (bounded) for the agent to log it before writing to that file again.
//
// Replay a failure with LOGFERRY_MODEL_SEED=<seed> LOGFERRY_MODEL_PATH=<path> (both printed on failure);
// LOGFERRY_MODEL_RUNS, LOGFERRY_MODEL_ACTIONS size the run, LOGFERRY_MODEL_SHRINK=1 shrinks a failure,
// LOGFERRY_MODEL_ALL=1 (or LOGFERRY_MODEL_ENABLE=a,b) turns on features listed as pending, LOGFERRY_MODEL_DUMP
// keeps each run's agent output.
import { test } from 'node:test';
import fc from 'fast-check';
import { actionArb, enabledFeatures, settingsArb } from './actions.js';
import { runModel } from './model-run.js';

const num = (name: string, dflt: number): number => {
  const v = process.env[name];
  return v === undefined || v === '' ? dflt : Number(v);
};

test('model: the real agent delivers every line at least once, reads nothing outside its roots, never checkpoints past an ack', async (t) => {
  const enabled = enabledFeatures();
  // `npm run soak` (npm names the script it runs) is the long run; `npm test` a modest one.
  const soak = process.env.npm_lifecycle_event === 'soak';
  const runs = num('LOGFERRY_MODEL_RUNS', soak ? 200 : 20);
  const maxActions = num('LOGFERRY_MODEL_ACTIONS', soak ? 40 : 25);
  // `npm test` replays the same sequences every time (CI is reproducible; the soak, and runs asked for by
  // LOGFERRY_MODEL_RUNS, draw new ones), and the soak looks further (docs/testing.md).
  const fixed = !soak && process.env.LOGFERRY_MODEL_RUNS === undefined;
  const seed = process.env.LOGFERRY_MODEL_SEED
    ? Number(process.env.LOGFERRY_MODEL_SEED)
    : fixed
      ? 20261204
      : Date.now() ^ (Math.random() * 0x7fffffff);
  const path = process.env.LOGFERRY_MODEL_PATH || undefined;
  t.diagnostic(`seed=${seed} runs=${runs} actions<=${maxActions} enabled=[${[...enabled].join(',')}]`);
  let runNo = 0;
  await fc.assert(
    fc.asyncProperty(
      settingsArb(enabled),
      fc.array(actionArb(enabled), {
        minLength: Math.min(4, maxActions),
        maxLength: maxActions,
        size: 'max',
      }),
      async (settings, actions) => {
        const started = Date.now();
        const { violations, trace, stats } = await runModel(settings, actions, enabled.has('id-salt'));
        if (process.env.LOGFERRY_MODEL_VERBOSE)
          console.error(
            `run ${++runNo}: ${actions.length} actions, ${Date.now() - started} ms, ${JSON.stringify(stats)}, ${violations.length} violation(s)`,
          );
        if (process.env.LOGFERRY_MODEL_VERBOSE === '2') console.error(`  ${trace.join('\n  ')}`);
        if (violations.length > 0) {
          const unique = [...new Set(violations)];
          throw new Error(
            `${unique.length} invariant(s) broken:\n  ${unique.slice(0, 15).join('\n  ')}\n` +
              `settings: ${JSON.stringify(settings)}\nactions:\n  ${trace.join('\n  ')}`,
          );
        }
      },
    ),
    {
      numRuns: runs,
      seed,
      path,
      endOnFailure: process.env.LOGFERRY_MODEL_SHRINK !== '1',
      verbose: 1,
      includeErrorInReport: true,
    },
  );
});
