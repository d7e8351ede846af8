// The refusal judge (pure): a lone refused record is poison only on evidence that the collector takes others.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REFUSALS_BEFORE_HOLD, RefusalJudge } from '../../src/send/refusal-judge.js';

/** Steps against one judge; each `single` / `batch` / `recheck` step states the verdict expected. */
type Step =
  | { send: string }
  | { accept: string }
  | { mark: string }
  | { batch: [number, string]; want: 'split' | 'hold' }
  | { single: [number, string, string]; family: string; first?: string; want: 'poison' | 'hold' };

function run(steps: Step[]): void {
  const j = new RefusalJudge(REFUSALS_BEFORE_HOLD, () => 1000);
  const requests = new Map<string, number>();
  const marks = new Map<string, number>();
  steps.forEach((s, i) => {
    const at = `step ${i}: ${JSON.stringify(s)}`;
    if ('send' in s) requests.set(s.send, j.sent());
    else if ('accept' in s) j.accepted(requests.get(s.accept)!);
    else if ('mark' in s) marks.set(s.mark, j.mark());
    else if ('batch' in s) assert.equal(j.refusedBatch(...s.batch), s.want, at);
    else {
      const first = s.first === undefined ? undefined : requests.get(s.first)!;
      assert.equal(j.refusedSingle(...s.single, marks.get(s.family)!, first), s.want, at);
    }
  });
}

const X = [400, 'bad record'] as const;

test('a poison record among good ones: its neighbours, sent after the refusal, are accepted → poison', () => {
  run([
    { send: 'batch' },
    { mark: 'f' }, // the batch was refused: split
    { batch: [...X], want: 'split' },
    { send: 'left' },
    { send: 'right' },
    { accept: 'left' },
    { single: [...X, 'p'], family: 'f', want: 'poison' },
  ]);
});

test('the refusal of a lone record arrives before its neighbours are accepted: held, then poison when refused again', () => {
  run([
    { send: 'p' },
    { mark: 'f' },
    { single: [...X, 'p'], family: 'f', want: 'hold' },
    { send: 'next' },
    { accept: 'next' },
    { send: 'p again' },
    { single: [...X, 'p'], family: 'f', want: 'poison' },
  ]);
});

test('an acceptance of a request sent BEFORE the refusal is no evidence (it may predate the collector change)', () => {
  run([
    { send: 'early' },
    { send: 'p' },
    { mark: 'f' },
    { accept: 'early' },
    { single: [...X, 'p'], family: 'f', first: 'p', want: 'hold' },
    { single: [...X, 'p'], family: 'f', first: 'p', want: 'hold' },
  ]);
});

test('a request sent after the record first went out, accepted: poison at its second refusal, not its first', () => {
  // A burst: the record and the next line's request are in flight together, and nothing more is written.
  run([
    { send: 'p' },
    { send: 'next' },
    { mark: 'f' },
    { accept: 'next' },
    { single: [...X, 'p'], family: 'f', first: 'p', want: 'hold' },
    { send: 'p again' },
    { single: [...X, 'p'], family: 'f', first: 'p', want: 'poison' },
  ]);
});

test('a collector that refuses everything: every lone record held, batches then held whole, nothing poison', () => {
  const steps: Step[] = [{ send: 'b' }, { mark: 'f' }, { batch: [...X], want: 'split' }];
  for (const id of ['a', 'b', 'c', 'd', 'e', 'f', 'g']) {
    steps.push({ send: id }, { single: [...X, id], family: 'f', want: 'hold' });
  }
  steps.push({ batch: [...X], want: 'hold' }, { single: [...X, 'a'], family: 'f', want: 'hold' });
  // A refusal for another reason is not "the same": its batch is split again.
  steps.push({ batch: [422, 'other'], want: 'split' });
  run(steps);
});

test('refusing everything with requests in flight: at most the records sent before the last acceptance are poison', () => {
  // Records a..g each go out alone; the collector accepts `ok` (sent after a and b), then refuses all.
  const steps: Step[] = [{ send: 'a' }, { send: 'b' }, { send: 'ok' }, { mark: 'f' }, { accept: 'ok' }];
  for (const id of ['a', 'b']) steps.push({ single: [...X, id], family: 'f', first: id, want: 'hold' });
  for (const id of ['a', 'b'])
    steps.push({ send: `${id} again` }, { single: [...X, id], family: 'f', first: id, want: 'poison' });
  for (const id of ['c', 'd', 'e', 'f', 'g']) {
    steps.push({ send: id }, { mark: id }, { single: [...X, id], family: id, first: id, want: 'hold' });
    steps.push({ send: `${id} again` }, { single: [...X, id], family: id, first: id, want: 'hold' });
  }
  run(steps);
});

test('different lone records refused for one reason with no acceptance between them: held despite old evidence', () => {
  const steps: Step[] = [{ send: 'b' }, { mark: 'f' }, { send: 'ok' }, { accept: 'ok' }];
  for (let i = 0; i < REFUSALS_BEFORE_HOLD - 1; i++)
    steps.push({ single: [...X, `r${i}`], family: 'f', want: 'poison' });
  steps.push({ single: [...X, 'last'], family: 'f', want: 'hold' });
  // The same record asked about again is not counted twice; a new one is still held.
  steps.push({ single: [...X, 'last'], family: 'f', want: 'hold' });
  steps.push({ single: [...X, 'new'], family: 'f', want: 'hold' });
  // An acceptance breaks the run: the held record, refused again, is poison.
  steps.push({ send: 'good' }, { accept: 'good' }, { single: [...X, 'last'], family: 'f', want: 'poison' });
  steps.push({ batch: [...X], want: 'split' });
  run(steps);
});

test('refusals for different reasons do not add up to a run', () => {
  const steps: Step[] = [{ send: 'b' }, { mark: 'f' }, { send: 'ok' }, { accept: 'ok' }];
  for (let i = 0; i < REFUSALS_BEFORE_HOLD * 2; i++)
    steps.push({ single: [400, `reason ${i % 2}`, `r${i}`], family: 'f', want: 'poison' });
  run(steps);
});

test('holding reports the refusal that began it, and clears on an acceptance', () => {
  const j = new RefusalJudge(3, () => 42);
  j.sent();
  const m = j.mark();
  assert.equal(j.refusedSingle(400, 'nope', 'a', m), 'hold');
  assert.deepEqual(j.holding, { key: '400 nope', status: 400, reason: 'nope', since: 42 });
  j.accepted(j.sent());
  assert.equal(j.holding, null);
});
