// The tailer's transition table, entry by entry; its descriptor rule; and the table that owns the tailers.
import assert from 'node:assert/strict';
import type { FileHandle } from 'node:fs/promises';
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import pino from 'pino';
import { EMPTY_FINGERPRINT } from '../../src/tail/file-identity.js';
import { Tailer } from '../../src/tail/tailer.js';
import {
  holdsDescriptor,
  isFollowed,
  isTerminal,
  TAILER_EVENTS,
  TAILER_STATES,
  type TailerEvent,
  TailerLife,
  type TailerState,
  TailStateError,
  transition,
} from '../../src/tail/tailer-state.js';
import { TailerTable } from '../../src/tail/tailer-table.js';
import { RateLimitedLog } from '../../src/telemetry/rate-limited-log.js';
import { tempDir } from '../helpers/agent.js';

/** Written out again, apart from the code: every allowed transition, and no other. */
const ALLOWED = `
  reading        grew          reading
  reading        eof           at-end
  reading        truncated     reading
  reading        path-gone     rotated
  reading        refused       finishing
  reading        stopped       done
  at-end         grew          reading
  at-end         eof           at-end
  at-end         idle-timeout  idle-closed
  at-end         path-gone     rotated
  at-end         forget-idle   forgotten
  at-end         stopped       done
  idle-closed    grew          idle-closed
  idle-closed    reopened      reading
  idle-closed    path-gone     rotated-closed
  idle-closed    forget-idle   forgotten
  idle-closed    stopped       done
  rotated        grew          rotated
  rotated        eof           rotated
  rotated        truncated     rotated
  rotated        path-found    reading
  rotated        finished      finishing
  rotated        refused       finishing
  rotated        lost          done
  rotated        stopped       done
  rotated-closed reopened      rotated
  rotated-closed path-found    idle-closed
  rotated-closed lost          done
  rotated-closed stopped       done
  finishing      grew          finishing
  finishing      path-found    reading
  finishing      acknowledged  done
  finishing      stopped       done
`
  .trim()
  .split('\n')
  .map((l) => l.trim().split(/\s+/) as [TailerState, TailerEvent, TailerState]);

const allowed = new Map(ALLOWED.map(([f, e, t]) => [`${f} ${e}`, t]));

test('every allowed transition leads where the table says', () => {
  for (const [from, event, to] of ALLOWED) assert.equal(transition(from, event), to, `${from} ${event}`);
});

test('every other pair is refused with LOGFERRY_TAIL_STATE', () => {
  let refused = 0;
  for (const from of TAILER_STATES) {
    for (const event of TAILER_EVENTS) {
      if (allowed.has(`${from} ${event}`)) continue;
      assert.throws(
        () => transition(from, event),
        (err: unknown) => err instanceof TailStateError && err.code === 'LOGFERRY_TAIL_STATE',
        `${from} ${event}`,
      );
      refused++;
    }
  }
  assert.equal(refused, TAILER_STATES.length * TAILER_EVENTS.length - ALLOWED.length);
  // A few that would be real bugs, named.
  for (const [from, event] of [
    ['idle-closed', 'eof'],
    ['reading', 'reopened'],
    ['done', 'grew'],
    ['forgotten', 'reopened'],
    ['finishing', 'eof'],
    ['rotated', 'forget-idle'],
  ] as const) {
    assert.throws(() => transition(from, event), /cannot take event/);
  }
});

const handle = (n: number) => ({ n }) as unknown as FileHandle;

test('the descriptor is taken by reopened and given back by idle-timeout', () => {
  const fh = handle(1);
  const life = new TailerLife(fh);
  assert.equal(life.apply('eof'), null);
  assert.equal(life.apply('idle-timeout'), fh);
  assert.equal(life.fh, null);
  assert.throws(() => life.apply('reopened'), /no descriptor given/);
  assert.equal(life.state, 'idle-closed');
  const again = handle(2);
  assert.equal(life.apply('reopened', again), null);
  assert.equal(life.fh, again);
  assert.throws(() => life.apply('grew', handle(3)), /descriptor not taken/);
  assert.equal(life.fh, again);
});

test('random event sequences keep the invariants', () => {
  const step = fc.record({ event: fc.constantFrom(...TAILER_EVENTS), withFh: fc.boolean() });
  fc.assert(
    fc.property(fc.constantFrom('reading', 'rotated'), fc.array(step, { maxLength: 60 }), (start, steps) => {
      let n = 0;
      const life = new TailerLife(handle(n++), start as 'reading' | 'rotated');
      for (const { event, withFh } of steps) {
        const before = life.state;
        const fhBefore = life.fh;
        let given: FileHandle | null = null;
        let ok = true;
        try {
          given = life.apply(event, withFh ? handle(n++) : undefined);
        } catch (err) {
          assert.ok(err instanceof TailStateError);
          ok = false;
        }
        const after = life.state;
        if (!ok) {
          // Refused: nothing changed.
          assert.equal(after, before);
          assert.equal(life.fh, fhBefore);
          continue;
        }
        assert.equal(after, allowed.get(`${before} ${event}`));
        // The descriptor is held exactly in the states that hold one; none in idle-closed.
        assert.equal(life.fh !== null, holdsDescriptor(after));
        assert.equal(given !== null, holdsDescriptor(before) && !holdsDescriptor(after));
        if (given !== null) assert.equal(given, fhBefore);
        // A file that lost its path is followed again only when a path is found for it.
        if (!isFollowed(before) && isFollowed(after)) assert.equal(event, 'path-found');
        assert.ok(!isTerminal(before), 'a let-go tailer takes no event');
      }
    }),
    { numRuns: 2000 },
  );
});

async function fixture(t: Parameters<typeof tempDir>[0]) {
  const dir = await tempDir(t, 'logferry-tailer-table-');
  const path = join(dir, 'a.log');
  await writeFile(path, 'one\n');
  const logs: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => logs.push(JSON.parse(s)) });
  const events = { released: 0, left: [] as Tailer[] };
  const table = new TailerTable(
    new RateLimitedLog(log),
    () => events.released++,
    (t) => events.left.push(t),
  );
  const out = { line: () => {} };
  const make = async (state: 'reading' | 'rotated' = 'reading') => {
    const fh = await open(path, 'r');
    const t = new Tailer('1:2', '1', '2', path, 0, EMPTY_FINGERPRINT, fh, state, 1024, out, () => {});
    table.add(t);
    return { t, fh };
  };
  return { dir, path, table, logs, events, make };
}

test('the table closes a descriptor given up, and keeps a forgotten file by its path', async (ctx) => {
  const f = await fixture(ctx);
  const { t, fh } = await f.make();
  f.table.addPath(f.path, t);
  assert.equal(f.table.atPath(f.path), t);
  assert.ok(f.table.step(t, 'eof'));
  assert.ok(f.table.step(t, 'idle-timeout'));
  assert.equal(f.events.released, 1);
  await new Promise((r) => setImmediate(r));
  assert.equal(fh.fd, -1, 'closed');
  assert.ok(f.table.step(t, 'forget-idle'));
  assert.equal(f.table.has(t.key), false);
  assert.equal(f.table.atPath(f.path), undefined);
  assert.equal(f.table.forgottenAt(f.path), t.key);
  assert.ok(f.table.follows(f.path));
  assert.deepEqual(f.events.left, [t]);
});

test('a file that lost its path is followed again where it is found; a refused event is logged', async (ctx) => {
  const f = await fixture(ctx);
  const { t } = await f.make();
  f.table.addPath(f.path, t);
  assert.ok(f.table.step(t, 'path-gone'));
  assert.equal(t.state, 'rotated');
  assert.deepEqual(f.table.pathsOf(t), []);
  const moved = join(f.dir, 'b.log');
  f.table.addPath(moved, t);
  assert.equal(t.state, 'reading');
  assert.equal(t.path, moved);
  assert.equal(t.dirty, true);
  assert.equal(f.table.step(t, 'reopened'), false);
  assert.equal(t.state, 'reading');
  const bad = f.logs.find((l) => l.code === 'LOGFERRY_TAIL_STATE');
  assert.ok(bad, 'logged');
  assert.equal(bad.event, 'reopened');
  assert.ok(f.table.step(t, 'stopped'));
  assert.equal(f.table.has(t.key), false);
});

test('closeAll closes every descriptor and keeps the tailers listed', async (ctx) => {
  const f = await fixture(ctx);
  const { t, fh } = await f.make('rotated');
  await f.table.closeAll();
  assert.equal(fh.fd, -1);
  assert.equal(t.state, 'done');
  assert.equal(t.fh, null);
  assert.equal(f.table.size, 1);
});
