// NdjsonLineWriter (bytes → record) writes exactly what NdjsonEncoder (decoded string → record) writes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ByteArena } from '../../src/arena/byte-arena.js';
import { LineFramer } from '../../src/frame/line-framer.js';
import { NdjsonEncoder } from '../../src/sinks/ndjson-encoder.js';
import { NdjsonLineWriter, PIECES_BYTES } from '../../src/sinks/ndjson-line-writer.js';
import { prng } from '../helpers/prng.js';

const source = (timestamp: string) => ({
  fileJson: JSON.stringify('/var/log/app/ünïcode "quoted".log'),
  idPrefix: 'k3y:',
  timestamp,
});

/** Bytes that exercise every branch: ASCII, escapes, valid and broken multi-byte sequences. */
const PIECES = [
  'plain text ',
  '"',
  '\\',
  '\t',
  '\r',
  '\u0000',
  '\u001b[31m',
  '\u007f',
  'é',
  '€',
  '𝄞',
  '\u2028',
  '中文',
].map((s) => Buffer.from(s));
const BROKEN = [
  [0x80],
  [0xc0, 0xaf],
  [0xc2],
  [0xe0, 0x80, 0x80],
  [0xe2, 0x82],
  [0xed, 0xa0, 0x80], // a surrogate
  [0xf0, 0x8f, 0xbf, 0xbf],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf5, 0x80],
  [0xff],
  [0xf0, 0x9f, 0x98],
].map((b) => Buffer.from(b));

function randomLine(rnd: () => number): Buffer {
  const parts: Buffer[] = [];
  const n = Math.floor(rnd() * 12);
  for (let i = 0; i < n; i++) {
    if (rnd() < 0.15) parts.push(BROKEN[Math.floor(rnd() * BROKEN.length)]!);
    else if (rnd() < 0.2) parts.push(Buffer.from([Math.floor(rnd() * 256)]));
    else parts.push(PIECES[Math.floor(rnd() * PIECES.length)]!);
  }
  return Buffer.concat(parts);
}

/**
 * Where the writer's buffers come from: the heap (the JavaScript path), or a byte arena (the WebAssembly
 * path, for lines read into the arena and written into bodies in it). `calls` counts the arena's escapes,
 * so a test can tell the WebAssembly path was taken.
 */
interface Mode {
  name: string;
  writer(labelsJson: string): NdjsonLineWriter;
  alloc(n: number): Buffer;
  calls(): number;
}

function heapMode(): Mode {
  return {
    name: 'JavaScript',
    writer: (labelsJson) => new NdjsonLineWriter(labelsJson),
    alloc: (n) => Buffer.alloc(n),
    calls: () => 0,
  };
}

function arenaMode(bytes: number): Mode {
  const arena = ByteArena.create([bytes, PIECES_BYTES]);
  assert.ok(arena !== null, 'WebAssembly SIMD is available here');
  const whole = arena.region(bytes);
  let used = 0;
  let calls = 0;
  const counting: ByteArena = Object.assign(Object.create(arena), {
    record: (a: number, b: number, c: number, d: number, e: number, f: number, g: number) => {
      calls++;
      return arena.record(a, b, c, d, e, f, g);
    },
  });
  return {
    name: 'WebAssembly',
    writer: (labelsJson) => new NdjsonLineWriter(labelsJson, counting),
    alloc: (n) => {
      const b = whole.subarray(used, used + n);
      used += n;
      return b.fill(0);
    },
    calls: () => calls,
  };
}

const MODES = [() => heapMode(), () => arenaMode(8 << 20)];

const LABEL_SETS: Record<string, string>[] = [{}, { app: 'shop', 'k"ey': 'v\\al' }];
for (const labels of LABEL_SETS) {
  for (const makeMode of MODES) {
    const mode = makeMode();
    test(`byte writer (${mode.name}) equals the string encoder on random lines (labels: ${Object.keys(labels).length})`, () => {
      const enc = new NdjsonEncoder(labels);
      const writer = mode.writer(enc.labelsJson);
      const rnd = prng(7);
      const dst = mode.alloc(1 << 16);
      const chunk = mode.alloc(4096);
      for (let i = 0; i < 5000; i++) {
        // A new read time now and then (the writer caches per-source pieces).
        const src = source(`2026-11-25T12:00:0${i % 3}.000Z`);
        const line = randomLine(rnd);
        // The line sits inside a larger buffer, as in a read chunk.
        const buf = chunk;
        Buffer.concat([Buffer.from('xx\n'), line, Buffer.from('\nyy')]).copy(buf);
        const offset = Math.floor(rnd() * 2 ** (1 + Math.floor(rnd() * 52)));
        const cut = rnd() < 0.1;
        const expected = enc.encode(src, line.toString('utf8'), offset, src.timestamp, cut);
        const pos = Math.floor(rnd() * 100);
        const bound = writer.bound(src, line.length);
        const end = writer.write(dst, pos, buf, 3, 3 + line.length, offset, cut);
        assert.ok(end - pos <= bound, 'within the bound');
        // Bytes, not decoded text: invalid UTF-8 copied as it is would decode to the same U+FFFD.
        assert.deepEqual(dst.subarray(pos, end), Buffer.from(expected), `line ${i}: ${line.toString('hex')}`);
        // The record is valid JSON holding the decoded line.
        assert.equal(JSON.parse(dst.toString('utf8', pos, end - 1)).message, line.toString('utf8'));
      }
      if (mode.name === 'WebAssembly') assert.ok(mode.calls() >= 5000, 'every line went through WebAssembly');
    });
  }
}

for (const makeMode of MODES) {
  const mode = makeMode();
  test(`byte writer (${mode.name}): offsets at the edges of digit counts and of safe integers`, () => {
    const enc = new NdjsonEncoder({});
    const writer = mode.writer(enc.labelsJson);
    const src = source('2026-11-25T12:00:00.000Z');
    const dst = mode.alloc(4096);
    const line = mode.alloc(1).fill('x');
    for (const offset of [
      0,
      9,
      10,
      99,
      100,
      99999,
      100000,
      999999,
      1000000,
      9999999,
      10000000,
      99999999,
      100000000,
      999999999,
      1000000000,
      1000000001,
      4000000009,
      9999999999,
      10 ** 10 + 7,
      2 ** 31 - 1,
      2 ** 31,
      2 ** 32,
      1e15,
      Number.MAX_SAFE_INTEGER,
    ]) {
      writer.bound(src, 1);
      const end = writer.write(dst, 0, line, 0, 1, offset, false);
      const rec = JSON.parse(dst.toString('utf8', 0, end));
      assert.equal(rec.offset, offset);
      assert.equal(rec.id, `k3y:${offset}`);
      assert.equal(dst.toString('utf8', 0, end), enc.encode(src, 'x', offset, src.timestamp, false));
    }
    if (mode.name === 'WebAssembly') assert.ok(mode.calls() >= 20, 'through WebAssembly');
  });
}

for (const makeMode of MODES) {
  const mode = makeMode();
  test(`framed from reads of any size (one reused read buffer), the writer (${mode.name}) writes what the string path writes`, () => {
    const rnd = prng(11);
    const enc = new NdjsonEncoder({ app: 'x' });
    const writer = mode.writer(enc.labelsJson);
    const backing = mode.alloc(1 << 20);
    const dst = mode.alloc(6 << 20);
    const src = source('2026-11-25T12:00:00.000Z');
    for (let round = 0; round < 60; round++) {
      // Mostly clean lines (the copied path), some with bytes to escape or broken UTF-8, CRLF endings.
      const lines: Buffer[] = [];
      for (let i = 0; i < 200; i++) {
        const clean = rnd() < 0.7;
        const body = clean
          ? Buffer.from('plain é 中 line '.repeat(1 + Math.floor(rnd() * 8)))
          : randomLine(rnd);
        lines.push(body, Buffer.from(rnd() < 0.2 ? '\r\n' : '\n'));
      }
      const input = Buffer.concat(lines);
      const max = rnd() < 0.3 ? 16 + Math.floor(rnd() * 200) : 1 << 20;
      let expected = '';
      assert.ok(dst.length >= input.length * 8 + lines.length * 300 && backing.length >= input.length + 64);
      let pos = 0;
      const framer = new LineFramer(
        {
          line: (buf, start, end, _raw, offset, _next, cut) => {
            expected += enc.encode(src, buf.toString('utf8', start, end), offset, src.timestamp, cut);
            const bound = writer.bound(src, end - start);
            const at = pos;
            pos = writer.write(dst, pos, buf, start, end, offset, cut);
            assert.ok(pos - at <= bound);
          },
        },
        max,
        0,
      );
      // One reused read buffer at an odd byte offset (words are read unaligned), stale bytes after each
      // read that would need escaping.
      const read = backing.subarray(1 + Math.floor(rnd() * 3));
      let at = 0;
      while (at < input.length) {
        const n = Math.min(input.length - at, 1 + Math.floor(rnd() * 700));
        read.fill('"\t\\\xff');
        input.copy(read, 0, at, at + n);
        framer.push(read, n);
        at += n;
      }
      framer.flushPartial();
      assert.ok(dst.subarray(0, pos).equals(Buffer.from(expected)), `round ${round}`);
    }
    if (mode.name === 'WebAssembly')
      assert.ok(mode.calls() > 6000, `lines through WebAssembly: ${mode.calls()} of 12,000`);
  });
}

test('many lines per call (writeLines, WebAssembly): the bytes the string path writes, whatever stops it', () => {
  const rnd = prng(23);
  const enc = new NdjsonEncoder({ app: 'x' });
  const mode = arenaMode(16 << 20);
  const writer = mode.writer(enc.labelsJson);
  const backing = mode.alloc(1 << 20);
  const dst = mode.alloc(8 << 20);
  // A new read time for each read, as the agent has it (so what the writer learnt of one chunk is reset).
  let src = source('2026-11-25T12:00:00.000Z');
  let reads = 0;
  let bulk = 0;
  let single = 0;
  const stops = new Set<string>();
  for (let round = 0; round < 80; round++) {
    // Mostly ASCII (what writeLines takes): clean, with bytes to escape, empty; some not ASCII or broken.
    const lines: Buffer[] = [];
    for (let i = 0; i < 300; i++) {
      const r = rnd();
      const body =
        r < 0.55
          ? Buffer.from('GET /api/v1/items status=200 '.repeat(Math.floor(rnd() * 6)))
          : r < 0.8
            ? Buffer.from(
                Array.from({ length: Math.floor(rnd() * 60) }, () =>
                  String.fromCharCode(Math.floor(rnd() * 128)),
                ).join(''),
              )
            : r < 0.85
              ? Buffer.alloc(0)
              : randomLine(rnd);
      lines.push(body, Buffer.from(rnd() < 0.2 ? '\r\n' : rnd() < 0.05 ? '\r\r\n' : '\n'));
    }
    const input = Buffer.concat(lines);
    const max = rnd() < 0.3 ? 8 + Math.floor(rnd() * 100) : 1 << 20;
    let expected = '';
    const plain = new LineFramer(
      {
        line: (buf, start, end, _raw, offset, _next, cut) => {
          expected += enc.encode(src, buf.toString('utf8', start, end), offset, src.timestamp, cut);
        },
      },
      max,
      0,
    );
    let pos = 0;
    let covered = 0;
    const framer = new LineFramer(
      {
        line: (buf, start, end, _raw, offset, next, cut) => {
          assert.equal(offset, covered, 'lines come in order, none skipped');
          covered = next;
          writer.bound(src, end - start);
          pos = writer.write(dst, pos, buf, start, end, offset, cut);
          single++;
        },
        lines: (buf, start, end, offset, maxLine) => {
          assert.equal(offset, covered);
          writer.use(src);
          // Limits that stop it often: a few records, or a few KiB of room.
          const limit = rnd() < 0.3 ? pos + Math.floor(rnd() * 4000) : dst.length - (1 << 20);
          const maxLines = rnd() < 0.3 ? Math.floor(rnd() * 5) : 1 << 20;
          const stop = writer.writeLines(dst, pos, limit, buf, start, end, offset, maxLine, maxLines);
          assert.ok(stop >= start && stop <= end);
          assert.ok(writer.linesWritten <= maxLines);
          if (writer.linesWritten > 0) {
            assert.ok(writer.linesEnd <= limit, 'no record ends past the limit');
            assert.equal(buf[stop - 1], 0x0a, 'it stops at a line start');
            pos = writer.linesEnd;
            covered = offset + stop - start;
            bulk += writer.linesWritten;
            stops.add(
              stop === end ? 'end' : buf.subarray(0, end).indexOf(0x0a, stop) === -1 ? 'unfinished' : 'other',
            );
          } else assert.equal(stop, start);
          return stop;
        },
      },
      max,
      0,
    );
    const read = backing.subarray(1 + Math.floor(rnd() * 3));
    let at = 0;
    while (at < input.length) {
      const n = Math.min(input.length - at, 1 + Math.floor(rnd() * 3000));
      src = source(new Date(Date.UTC(2026, 10, 25) + reads++).toISOString());
      read.fill('"\t\\\xff\n');
      input.copy(read, 0, at, at + n);
      framer.push(read, n);
      plain.push(read, n);
      at += n;
    }
    framer.flushPartial();
    plain.flushPartial();
    assert.ok(dst.subarray(0, pos).equals(Buffer.from(expected)), `round ${round}`);
  }
  assert.ok(bulk > 10_000, `lines written many at a time: ${bulk} (one at a time: ${single})`);
  assert.deepEqual([...stops].sort(), ['end', 'other', 'unfinished']);
});
