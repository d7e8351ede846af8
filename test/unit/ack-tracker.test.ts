// AckTracker: the committed offset moves only over the contiguous acknowledged prefix, whatever the ack order.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AckTracker, type Segment } from '../../src/checkpoint/ack-tracker.js';
import { prng } from '../helpers/prng.js';

function tracker(start: number) {
  const commits: number[] = [];
  const t = new AckTracker(start, (tr) => {
    assert.equal(tr, t);
    commits.push(tr.committed);
  });
  return { t, commits };
}

interface Scenario {
  name: string;
  start: number;
  ends: number[];
  /** Indexes of segments in the order they are acknowledged. */
  acks: number[];
  /** committed after each ack. */
  committed: number[];
  /** The onCommit values, in order. */
  commits: number[];
}

const scenarios: Scenario[] = [
  {
    name: 'in order',
    start: 0,
    ends: [10, 20, 30],
    acks: [0, 1, 2],
    committed: [10, 20, 30],
    commits: [10, 20, 30],
  },
  {
    name: 'reverse order: nothing moves until the first is acked, then all at once',
    start: 0,
    ends: [10, 20, 30],
    acks: [2, 1, 0],
    committed: [0, 0, 30],
    commits: [30],
  },
  {
    name: 'a gap holds the prefix back',
    start: 100,
    ends: [110, 120, 130, 140],
    acks: [0, 2, 3, 1],
    committed: [110, 110, 110, 140],
    commits: [110, 140],
  },
  {
    name: 'middle first',
    start: 5,
    ends: [6, 7, 8, 9, 10],
    acks: [2, 0, 4, 1, 3],
    committed: [5, 6, 6, 8, 10],
    commits: [6, 8, 10],
  },
  {
    name: 'acking the same segment twice moves nothing the second time',
    start: 0,
    ends: [1, 2],
    acks: [1, 1, 0, 0],
    committed: [0, 0, 2, 2],
    commits: [2],
  },
];

for (const s of scenarios) {
  test(`scenario: ${s.name}`, () => {
    const { t, commits } = tracker(s.start);
    assert.equal(t.committed, s.start);
    const segs = s.ends.map((e) => t.open(e));
    assert.equal(t.outstanding, s.ends.length);
    const seen: number[] = [];
    for (const i of s.acks) {
      t.done(segs[i]!);
      assert.equal(segs[i]!.done, true);
      seen.push(t.committed);
    }
    assert.deepEqual(seen, s.committed);
    assert.deepEqual(commits, s.commits);
    assert.equal(t.outstanding, 0);
  });
}

test('segments opened after some were acknowledged extend the prefix', () => {
  const { t, commits } = tracker(0);
  const a = t.open(10);
  const b = t.open(20);
  t.done(b);
  assert.equal(t.committed, 0);
  assert.equal(t.outstanding, 2);
  t.done(a);
  assert.equal(t.committed, 20);
  assert.equal(t.outstanding, 0);
  const c = t.open(25);
  const d = t.open(40);
  t.done(d);
  assert.equal(t.committed, 20);
  t.done(c);
  assert.equal(t.committed, 40);
  assert.deepEqual(commits, [20, 40]);
});

/** Simple model: committed = end of the longest acknowledged prefix of the opened segments. */
function model(start: number, ends: number[], acked: boolean[], opened: number) {
  let prefix = 0;
  while (prefix < opened && acked[prefix]) prefix++;
  return { committed: prefix === 0 ? start : ends[prefix - 1]!, prefix };
}

test('randomized permutations agree with a simple model (and survive queue compaction)', () => {
  const rnd = prng(0xac4);
  for (let round = 0; round < 40; round++) {
    // Some rounds are long enough (> 1024 heads) for the tracker to compact its queue.
    const n = round % 4 === 0 ? 3000 : 1 + Math.floor(rnd() * 60);
    const start = Math.floor(rnd() * 1000);
    const ends: number[] = [];
    for (let i = 0, at = start; i < n; i++) {
      at += 1 + Math.floor(rnd() * 100);
      ends.push(at);
    }
    // Open in batches interleaved with acks, like batches sealed while others are in flight.
    const { t, commits } = tracker(start);
    const segs: Segment[] = [];
    const acked: boolean[] = Array(n).fill(false);
    const pending: number[] = [];
    let opened = 0;
    let expectCommits = 0;
    while (opened < n || pending.length > 0) {
      if (opened < n && (pending.length === 0 || rnd() < 0.5)) {
        const k = Math.min(n - opened, 1 + Math.floor(rnd() * 8));
        for (let j = 0; j < k; j++) {
          segs.push(t.open(ends[opened]!));
          pending.push(opened++);
        }
        continue;
      }
      const pick = Math.floor(rnd() * pending.length);
      const i = pending[pick]!;
      pending[pick] = pending[pending.length - 1]!;
      pending.pop();
      const before = t.committed;
      acked[i] = true;
      t.done(segs[i]!);
      const want = model(start, ends, acked, opened);
      assert.equal(t.committed, want.committed, `round ${round}: after acking segment ${i}`);
      assert.equal(t.outstanding, opened - want.prefix);
      if (want.committed !== before) expectCommits++;
      assert.equal(commits.length, expectCommits, `round ${round}: onCommit only when committed moves`);
      assert.equal(commits.at(-1) ?? start, t.committed);
    }
    assert.equal(t.committed, ends.at(-1));
    assert.equal(t.outstanding, 0);
  }
});
