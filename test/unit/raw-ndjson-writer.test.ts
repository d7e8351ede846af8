// The raw path (WebAssembly, many lines per call) writes exactly what the reference encoder writes.
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { test } from 'node:test';
import { ByteArena } from '../../src/arena/byte-arena.js';
import { PIECES_BYTES, RawNdjsonWriter } from '../../src/arena/raw-ndjson-writer.js';
import { LineFramer } from '../../src/frame/line-framer.js';
import { labelsJsonOf, ndjsonRecord } from '../../src/sinks/ndjson.js';
import { prng } from '../helpers/prng.js';

const FILE = '/var/log/app/ünïcode "quoted".log';
const source = (timestamp: string) => ({ fileJson: JSON.stringify(FILE), idPrefix: 'k3y:', timestamp });

/** The reference encoding of a line of FILE. */
function reference(
  text: string,
  offset: number,
  timestamp: string,
  cut: boolean,
  labelsJson: string,
): string {
  return ndjsonRecord({ message: text, file: FILE, offset, id: `k3y:${offset}`, timestamp, cut }, labelsJson);
}

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
  '中文',
].map((s) => Buffer.from(s));
const BROKEN = [
  [0x80],
  [0xc0, 0xaf],
  [0xc2],
  [0xe2, 0x82],
  [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xff],
].map((b) => Buffer.from(b));

function randomLine(rnd: () => number): Buffer {
  const parts: Buffer[] = [];
  const n = Math.floor(rnd() * 12);
  for (let i = 0; i < n; i++) {
    if (rnd() < 0.15) parts.push(BROKEN[Math.floor(rnd() * BROKEN.length)]!);
    else if (rnd() < 0.2) parts.push(Buffer.from([Math.floor(rnd() * 128)]));
    else parts.push(PIECES[Math.floor(rnd() * PIECES.length)]!);
  }
  return Buffer.concat(parts);
}

/** An arena with the writer's pieces and `bytes` more, handed out in slices. */
function arenaOf(bytes: number, labelsJson: string) {
  const arena = ByteArena.create([PIECES_BYTES, bytes]);
  assert.ok(arena !== null, 'WebAssembly SIMD is available here');
  const writer = new RawNdjsonWriter(labelsJson, arena);
  const whole = arena.region(bytes);
  let used = 0;
  const alloc = (n: number) => {
    const b = whole.subarray(used, used + n);
    used += n;
    return b.fill(0);
  };
  return { writer, alloc };
}

for (const labels of [{}, { app: 'shop', 'k"ey': 'v\\al' }] as Record<string, string>[]) {
  test(`many lines per call: the bytes of the reference encoder, whatever stops it (labels: ${Object.keys(labels).length})`, () => {
    const rnd = prng(23);
    const labelsJson = labelsJsonOf(labels);
    const { writer, alloc } = arenaOf(16 << 20, labelsJson);
    const backing = alloc(1 << 20);
    const dst = alloc(8 << 20);
    // A new read time for each read, as the agent has it (so what the writer learnt of one chunk is reset).
    let src = source('2026-11-25T12:00:00.000Z');
    let reads = 0;
    let bulk = 0;
    let single = 0;
    const stops = new Set<string>();
    for (let round = 0; round < 80; round++) {
      // Mostly ASCII (what the raw path takes): clean, with bytes to escape, empty; some not ASCII or broken.
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
            expected += reference(buf.toString('utf8', start, end), offset, src.timestamp, cut, labelsJson);
          },
        },
        max,
        0,
      );
      let pos = 0;
      let covered = 0;
      const framer = new LineFramer(
        {
          // What the raw path leaves goes through the records path: the reference encoder.
          line: (buf, start, end, _raw, offset, next, cut) => {
            assert.equal(offset, covered, 'lines come in order, none skipped');
            covered = next;
            const text = reference(buf.toString('utf8', start, end), offset, src.timestamp, cut, labelsJson);
            pos += dst.write(text, pos);
            single++;
          },
          lineTable: writer.lineTable,
          lines: (buf, first, count, offset, end) => {
            assert.equal(
              offset + writer.lineTable[2 * first]!,
              covered,
              'offered from where the lines stopped',
            );
            writer.use(src);
            // Limits that stop it often: a few records, or a few KiB of room.
            const limit = rnd() < 0.3 ? pos + Math.floor(rnd() * 4000) : dst.length - (1 << 20);
            const n = writer.writeLines(
              dst,
              pos,
              limit,
              buf,
              first,
              rnd() < 0.3 ? Math.min(count, 3) : count,
              offset,
            );
            assert.ok(n >= 0 && n <= count);
            if (n > 0) {
              assert.ok(writer.linesEnd <= limit, 'no record ends past the limit');
              pos = writer.linesEnd;
              covered = offset + (n < count ? writer.lineTable[2 * (first + n)]! : end);
              bulk += n;
              stops.add(n === count ? 'all' : 'some');
            }
            return n;
          },
        },
        max,
        0,
      );
      // One reused read buffer at an odd byte offset, stale bytes after each read that would need escaping.
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
    assert.ok(bulk > 10_000, `lines written many at a time: ${bulk} (through the records path: ${single})`);
    assert.deepEqual([...stops].sort(), ['all', 'some']);
  });
}

test('offsets at the edges of digit counts and of safe integers', () => {
  const { writer, alloc } = arenaOf(1 << 16, '');
  const src = source('2026-11-25T12:00:00.000Z');
  const dst = alloc(1 << 15);
  const line = alloc(2);
  line.write('x\n');
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
    Number.MAX_SAFE_INTEGER - 1,
  ]) {
    writer.use(src);
    writer.lineTable.set([0, 1]);
    assert.equal(writer.writeLines(dst, 0, 4096, line, 0, 1, offset), 1);
    const text = dst.toString('utf8', 0, writer.linesEnd);
    assert.equal(text, reference('x', offset, src.timestamp, false, ''));
    assert.equal(JSON.parse(text).offset, offset);
  }
});

test('buffers outside the arena, and a file whose pieces do not fit, are left to the records path', () => {
  const { writer, alloc } = arenaOf(1 << 16, '');
  const dst = alloc(1 << 15);
  const line = alloc(2);
  line.write('x\n');
  writer.use(source('2026-11-25T12:00:00.000Z'));
  writer.lineTable.set([0, 1]);
  assert.equal(writer.writeLines(Buffer.alloc(1 << 15), 0, 4096, line, 0, 1, 0), 0);
  assert.equal(writer.writeLines(dst, 0, 4096, Buffer.from('x\n'), 0, 1, 0), 0);
  writer.use({ fileJson: JSON.stringify('/'.repeat(PIECES_BYTES)), idPrefix: 'k:', timestamp: 'now' });
  assert.equal(writer.writeLines(dst, 0, 4096, line, 0, 1, 0), 0);
});

test('a line is taken as it is exactly when it is valid UTF-8 (as isUtf8 says), edges of every sequence length', () => {
  const { writer, alloc } = arenaOf(1 << 20, '');
  const src = source('2026-11-25T12:00:00.000Z');
  const dst = alloc(1 << 16);
  const buf = alloc(64);
  const rnd = prng(5);
  // Lead bytes at the edges of the ranges, followed by continuation bytes at theirs.
  const leads = [
    0x80, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5,
    0xff,
  ];
  const conts = [0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xff];
  let taken = 0;
  let left = 0;
  for (let i = 0; i < 40_000; i++) {
    const bytes = [leads[Math.floor(rnd() * leads.length)]!];
    const n = Math.floor(rnd() * 4);
    for (let k = 0; k < n; k++) bytes.push(conts[Math.floor(rnd() * conts.length)]!);
    const line = Buffer.from([0x61, ...bytes, 0x62].filter((b) => b !== 0x0a));
    line.copy(buf);
    buf[line.length] = 0x0a;
    writer.use(src);
    writer.lineTable.set([0, line.length]);
    const stop = writer.writeLines(dst, 0, 4096, buf, 0, 1, 0) === 1 ? line.length + 1 : 0;
    const valid = isUtf8(line);
    if (valid) {
      taken++;
      assert.equal(stop, line.length + 1, `taken: ${line.toString('hex')}`);
      assert.equal(
        dst.toString('utf8', 0, writer.linesEnd),
        reference(line.toString('utf8'), 0, src.timestamp, false, ''),
      );
    } else {
      left++;
      assert.equal(stop, 0, `left to the records path: ${line.toString('hex')}`);
    }
  }
  assert.ok(taken > 1000 && left > 1000, `both kinds seen: ${taken} taken, ${left} left`);
});

test('every byte value alone, at every position of a 16-byte block, in the tail and past the end', () => {
  const { writer, alloc } = arenaOf(1 << 20, '');
  const src = source('2026-11-25T12:00:00.000Z');
  const dst = alloc(1 << 16);
  const buf = alloc(64);
  for (let c = 0; c < 256; c++) {
    for (const len of [1, 15, 16, 17, 33]) {
      for (let at = 0; at < len; at++) {
        // Plain bytes after the line: the 16-byte blocks read past its end, and only its end may stop them.
        buf.fill(0x62, 0, 64);
        buf.fill(0x61, 0, len);
        buf[at] = c;
        const line = buf.subarray(0, len);
        writer.use(src);
        writer.lineTable.set([0, len]);
        const n = writer.writeLines(dst, 0, 4096, buf, 0, 1, 7);
        if (!isUtf8(line)) {
          assert.equal(n, 0, `byte ${c} at ${at} of ${len}: not UTF-8, left to the records path`);
          continue;
        }
        assert.equal(n, 1, `byte ${c} at ${at} of ${len}`);
        assert.equal(
          dst.toString('utf8', 0, writer.linesEnd),
          reference(line.toString('utf8'), 7, src.timestamp, false, ''),
          `byte ${c} at ${at} of ${len}`,
        );
      }
    }
  }
});
