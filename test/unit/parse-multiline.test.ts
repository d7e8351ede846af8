// Multiline presets on real-looking output, caps, and the checkpoint rule of the record assembler:
// property tests (fast-check) that any split of the input into reads, and any restart at a checkpoint
// the assembler allowed, give the same records with the same offsets.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { LineFramer, textLines } from '../../src/frame/line-framer.js';
import { type AssembledRecord, type AssemblerOptions, RecordAssembler } from '../../src/parse/assembler.js';
import { compileMultiline, type StartRuleFactory } from '../../src/parse/multiline.js';

const rule = (v: string): StartRuleFactory => {
  const r = compileMultiline(v, 4096);
  assert.ok(typeof r === 'function', `multiline ${v}: ${String(r)}`);
  return r;
};

interface Run {
  records: AssembledRecord[];
  acks: number[];
  /** Bytes charged to the budget that are still held at the end. */
  held: number;
}

/** Frame `input` from `start` in reads of the given sizes, assemble, flush at the end (file finished). */
function run(input: Buffer, opts: AssemblerOptions, chunks: number[] = [], start = 0): Run {
  const records: AssembledRecord[] = [];
  const acks: number[] = [];
  let held = 0;
  const asm = new RecordAssembler(
    opts,
    (r, ack) => {
      records.push(r);
      acks.push(ack);
    },
    start,
    (d) => {
      held += d;
    },
  );
  const framer = new LineFramer(
    textLines((text, bytes, offset, next, cut) =>
      asm.push({ text, bytes, offset, next, cut, readTime: 'T', idPrefix: 'k:' }, 0),
    ),
    1 << 20,
    start,
  );
  let pos = start;
  let i = 0;
  while (pos < input.length) {
    const n = Math.max(1, chunks.length > 0 ? chunks[i++ % chunks.length]! : input.length);
    const piece = Buffer.from(input.subarray(pos, Math.min(input.length, pos + n)));
    framer.push(piece, piece.length);
    pos += piece.length;
  }
  framer.flushPartial();
  asm.flushAll();
  return { records, acks, held };
}

const view = (r: AssembledRecord) => ({
  offset: r.offset,
  next: r.next,
  text: r.text,
  cut: r.cut,
  stream: r.stream,
  time: r.containerTime,
  err: r.containerError,
});

const opts = (multiline: string | null, container: 'cri' | 'docker' | null = null): AssemblerOptions => ({
  container,
  multiline: multiline === null ? null : rule(multiline),
  maxLines: 1_000_000,
  maxBytes: 1 << 30,
});

const JAVA = `2026-11-25 12:00:00.001 INFO  [main] c.e.App - Starting
2026-11-25 12:00:01.002 ERROR [http-1] c.e.Api - Request failed
java.lang.IllegalStateException: order 42 not found
\tat com.example.OrderService.find(OrderService.java:88)
\tat com.example.Api.handle(Api.java:31)
Caused by: java.sql.SQLException: connection reset
\tat org.postgresql.Driver.read(Driver.java:120)
\t... 12 more
2026-11-25 12:00:02.003 INFO  [main] c.e.App - Still running
Exception in thread "worker" java.lang.OutOfMemoryError: Java heap space
\tat java.base/java.util.Arrays.copyOf(Arrays.java:3537)
`;

test('java preset: a stack trace with its causes is one record; the next log line starts another', () => {
  const r = run(Buffer.from(JAVA), opts('java'));
  assert.deepEqual(
    r.records.map((x) => x.text.split('\n')[0]),
    [
      '2026-11-25 12:00:00.001 INFO  [main] c.e.App - Starting',
      '2026-11-25 12:00:01.002 ERROR [http-1] c.e.Api - Request failed',
      '2026-11-25 12:00:02.003 INFO  [main] c.e.App - Still running',
      'Exception in thread "worker" java.lang.OutOfMemoryError: Java heap space',
    ],
  );
  assert.equal(r.records[1]!.lines, 7);
  assert.ok(r.records[1]!.text.endsWith('\t... 12 more'));
  assert.equal(r.records[1]!.offset, JAVA.indexOf('2026-11-25 12:00:01'));
  assert.equal(r.records[1]!.next, JAVA.indexOf('2026-11-25 12:00:02'));
  assert.equal(r.held, 0, 'every byte held for a pending record is released');
});

const PYTHON = `INFO:app:starting
ERROR:app:request failed
Traceback (most recent call last):
  File "/app/main.py", line 10, in handle
    return lookup(key)
  File "/app/main.py", line 5, in lookup
    raise KeyError(key)
KeyError: 'user-42'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/app/main.py", line 12, in handle
    raise ValueError("bad request")
ValueError: bad request
INFO:app:next request
`;

test('python preset: a traceback with its exception line and chained tracebacks is one record', () => {
  const r = run(Buffer.from(PYTHON), opts('python'));
  assert.deepEqual(
    r.records.map((x) => x.text.split('\n')[0]),
    ['INFO:app:starting', 'ERROR:app:request failed', 'INFO:app:next request'],
  );
  assert.ok(r.records[1]!.text.endsWith('ValueError: bad request'));
  assert.equal(r.records[1]!.lines, 14);
});

const GO = `2026/11/25 12:00:00 serving on :8080
panic: runtime error: index out of range [5] with length 3

goroutine 1 [running]:
main.lookup(...)
\t/app/main.go:12
main.main()
\t/app/main.go:8 +0x1d
exit status 2
2026/11/25 12:00:05 restarted
`;

test('go preset: a panic with its goroutine dump is one record', () => {
  const r = run(Buffer.from(GO), opts('go'));
  assert.deepEqual(
    r.records.map((x) => x.text.split('\n')[0]),
    [
      '2026/11/25 12:00:00 serving on :8080',
      'panic: runtime error: index out of range [5] with length 3',
      '2026/11/25 12:00:05 restarted',
    ],
  );
  assert.ok(r.records[1]!.text.endsWith('exit status 2'));
});

const NODE = `server listening on 3000
/app/index.js:3
    throw new Error('boom');
    ^

Error: boom
    at Object.<anonymous> (/app/index.js:3:11)
    at Module._compile (node:internal/modules/cjs/loader:1105:14) {
  code: 'E_BOOM'
}

Node.js v20.20.2
TypeError: Cannot read properties of undefined (reading 'id')
    at handler (/app/routes.js:14:22)
request done
`;

test('nodejs preset: an uncaught exception report and a logged error with its stack are records', () => {
  const r = run(Buffer.from(NODE), opts('nodejs'));
  assert.deepEqual(
    r.records.map((x) => x.text.split('\n')[0]),
    [
      'server listening on 3000',
      '/app/index.js:3',
      "TypeError: Cannot read properties of undefined (reading 'id')",
      'request done',
    ],
  );
  assert.ok(r.records[1]!.text.includes('Error: boom'));
  assert.ok(r.records[1]!.text.endsWith('Node.js v20.20.2'));
});

test('start regex: a record starts at each matching line; caps on lines and bytes cut, marked', () => {
  const text = 'S1\n c\n c\n c\n c\nS2\n c\nS3 ' + 'x'.repeat(50) + '\n ' + 'y'.repeat(50) + '\n';
  const byLines = run(Buffer.from(text), { ...opts('^S\\d'), maxLines: 3 });
  assert.deepEqual(
    byLines.records.map((x) => [x.text, x.cut]),
    [
      ['S1\n c\n c', true],
      [' c\n c', true],
      ['S2\n c', false],
      [`S3 ${'x'.repeat(50)}\n ${'y'.repeat(50)}`, false],
    ],
  );
  const byBytes = run(Buffer.from(text), { ...opts('^S\\d'), maxBytes: 60 });
  assert.deepEqual(
    byBytes.records.slice(-2).map((x) => [x.text, x.cut]),
    [
      [`S3 ${'x'.repeat(50)}`, true],
      [` ${'y'.repeat(50)}`, true],
    ],
  );
  // Nothing lost: the pieces cover every line.
  assert.equal(byBytes.records.map((x) => x.text).join('\n'), text.slice(0, -1));
});

test('cri: partial lines are joined per stream; the record id is the first piece offset', () => {
  const cri = [
    '2026-11-25T12:00:00.000000001Z stdout P {"msg":"a long ',
    '2026-11-25T12:00:00.000000002Z stderr F warning: disk 93%',
    '2026-11-25T12:00:00.000000003Z stdout P line split by ',
    '2026-11-25T12:00:00.000000004Z stdout F the runtime"}',
    'not a cri line',
    '2026-11-25T12:00:01Z stdout F next',
    '',
  ].join('\n');
  const r = run(Buffer.from(cri), opts(null, 'cri'));
  assert.deepEqual(
    r.records.map((x) => [x.offset, x.text, x.stream, x.containerError]),
    [
      [cri.indexOf('2026-11-25T12:00:00.000000002Z'), 'warning: disk 93%', 'stderr', false],
      [0, '{"msg":"a long line split by the runtime"}', 'stdout', false],
      [cri.indexOf('not a cri'), 'not a cri line', null, true],
      [cri.indexOf('2026-11-25T12:00:01Z'), 'next', 'stdout', false],
    ],
  );
  assert.equal(r.records[1]!.containerTime, '2026-11-25T12:00:00.000000001Z', 'time of the first piece');
  // The stderr line is delivered, but the checkpoint must not pass the unfinished stdout record.
  assert.equal(r.acks[0], 0);
  assert.equal(r.acks[1], cri.indexOf('not a cri'));
});

// ---- properties ----

const START_LINES = [
  '2026-11-25 12:00:00 INFO served /a',
  '2026-11-25 12:00:01 ERROR failed: é€😀',
  'INFO:app:x',
  'panic: boom',
  '/app/x.js:3',
  'Error: nope',
];
const CONT_LINES = [
  '\tat com.example.A.b(A.java:1)',
  'Caused by: java.io.IOException: x',
  '\t... 3 more',
  '  File "x.py", line 1, in f',
  'Traceback (most recent call last):',
  'ValueError: bad',
  'goroutine 1 [running]:',
  'main.main()',
  '    at f (/app/x.js:1:2)',
  '',
];
const lineArb = fc.oneof(
  fc.constantFrom(...START_LINES, ...CONT_LINES),
  fc.string({ maxLength: 12 }).map((s) => s.replace(/[\r\n]/g, '')),
);
const endingArb = fc.constantFrom('\n', '\n', '\n', '\r\n');
const plainInput = fc
  .array(fc.tuple(lineArb, endingArb), { minLength: 1, maxLength: 40 })
  .map((ls) => Buffer.from(ls.map(([l, e]) => l + e).join('')));

const criLineArb = fc
  .tuple(fc.constantFrom('stdout', 'stderr'), fc.constantFrom('P', 'F', 'F'), lineArb, fc.nat(9))
  .map(([s, t, l, n]) => `2026-11-25T12:00:0${n}.12345Z ${s} ${t} ${l}`);
const criInput = fc
  .array(fc.oneof({ weight: 12, arbitrary: criLineArb }, { weight: 1, arbitrary: lineArb }), {
    minLength: 1,
    maxLength: 40,
  })
  .map((ls) => Buffer.from(`${ls.join('\n')}\n`));

const dockerInput = fc
  .array(fc.tuple(fc.constantFrom('stdout', 'stderr'), lineArb, fc.boolean()), {
    minLength: 1,
    maxLength: 30,
  })
  .map((ls) =>
    Buffer.from(
      `${ls
        .map(([s, l, full]) =>
          JSON.stringify({ log: full ? `${l}\n` : l, stream: s, time: '2026-11-25T12:00:00Z' }),
        )
        .join('\n')}\n`,
    ),
  );

const chunksArb = fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 });

const MODES: { name: string; input: fc.Arbitrary<Buffer>; opts: AssemblerOptions }[] = [
  { name: 'java', input: plainInput, opts: opts('java') },
  { name: 'python', input: plainInput, opts: opts('python') },
  { name: 'go', input: plainInput, opts: opts('go') },
  { name: 'nodejs', input: plainInput, opts: opts('nodejs') },
  { name: 'start regex', input: plainInput, opts: opts('^\\d{4}-') },
  { name: 'none', input: plainInput, opts: opts(null) },
  { name: 'cri', input: criInput, opts: opts(null, 'cri') },
  { name: 'cri + java', input: criInput, opts: opts('java', 'cri') },
  { name: 'cri + python', input: criInput, opts: opts('python', 'cri') },
  { name: 'docker + go', input: dockerInput, opts: opts('go', 'docker') },
];

for (const mode of MODES) {
  test(`property (${mode.name}): any split into reads gives the same records and checkpoints`, () => {
    fc.assert(
      fc.property(mode.input, chunksArb, (input, chunks) => {
        const whole = run(input, mode.opts);
        const split = run(input, mode.opts, chunks);
        assert.deepEqual(split.records.map(view), whole.records.map(view));
        assert.deepEqual(split.acks, whole.acks);
        assert.equal(split.held, 0);
      }),
      { numRuns: 150 },
    );
  });

  test(`property (${mode.name}): a restart at any checkpoint loses no record and splits none`, () => {
    fc.assert(
      fc.property(mode.input, chunksArb, (input, chunks) => {
        const first = run(input, mode.opts);
        // Checkpoints never go back, never pass what was read, and every line is in exactly one record.
        for (let i = 1; i < first.acks.length; i++) assert.ok(first.acks[i]! >= first.acks[i - 1]!);
        assert.ok(first.acks.every((a) => a <= input.length));
        if (first.acks.length > 0) assert.equal(first.acks.at(-1), input.length);
        for (const c of new Set(first.acks)) {
          // Everything before the checkpoint is in records that end at or before it ...
          for (const r of first.records) {
            if (r.offset < c) assert.ok(r.next <= c, `record at ${r.offset} spans checkpoint ${c}`);
          }
          // ... and a restart there yields exactly the records that start after it.
          const again = run(input, mode.opts, chunks, c);
          assert.deepEqual(
            again.records.map(view),
            first.records.filter((r) => r.offset >= c).map(view),
            `restart at ${c}`,
          );
        }
      }),
      { numRuns: 100 },
    );
  });
}
