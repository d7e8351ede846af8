// LineFramer: bytes → lines with exact offsets, whatever the read boundaries, bytes or line lengths.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LineFramer, PENDING_KEEP_BYTES, textLines } from '../../src/frame/line-framer.js';
import { prng } from '../helpers/prng.js';

interface Emitted {
  text: string;
  rawBytes: number;
  offset: number;
  next: number;
  cut: boolean;
}

function framer(max: number, start = 0): { f: LineFramer; out: Emitted[] } {
  const out: Emitted[] = [];
  const receiver = textLines((text, rawBytes, offset, next, cut) => {
    out.push({ text, rawBytes, offset, next, cut });
  });
  return { f: new LineFramer(receiver, max, start), out };
}

/** Feed `input` in the given chunk sizes through one reused read buffer, then flush the partial line. */
function feed(input: Buffer, max: number, chunks: number[], opts: { start?: number; flush?: boolean } = {}) {
  const { f, out } = framer(max, opts.start ?? 0);
  // A read buffer larger than any chunk, pre-filled with newlines: bytes past `end` must be ignored.
  const buf = Buffer.alloc(input.length + 16);
  let pos = 0;
  for (const n of chunks) {
    buf.fill(0x0a);
    input.copy(buf, 0, pos, pos + n);
    f.push(buf, n);
    // The caller reuses its buffer: overwrite it before the next read.
    buf.fill(0x5a);
    pos += n;
  }
  assert.equal(pos, input.length, 'chunks must cover the input');
  if (opts.flush !== false) f.flushPartial();
  return out;
}

const whole = (input: Buffer, max: number, start = 0) => feed(input, max, [input.length], { start });

test('LF and CRLF lines: text without line ending, exact offset/next/rawBytes', () => {
  const input = Buffer.from('alpha\nbeta\r\n\n\r\ngamma\n', 'utf8');
  const out = whole(input, 1024, 0);
  assert.deepEqual(out, [
    { text: 'alpha', rawBytes: 6, offset: 0, next: 6, cut: false },
    { text: 'beta', rawBytes: 6, offset: 6, next: 12, cut: false },
    { text: '', rawBytes: 1, offset: 12, next: 13, cut: false },
    { text: '', rawBytes: 2, offset: 13, next: 15, cut: false },
    { text: 'gamma', rawBytes: 6, offset: 15, next: 21, cut: false },
  ]);
});

test('offsets start at the start offset given to the constructor', () => {
  const out = whole(Buffer.from('a\nbb\n'), 1024, 5000);
  assert.deepEqual(
    out.map((l) => [l.text, l.offset, l.next]),
    [
      ['a', 5000, 5002],
      ['bb', 5002, 5005],
    ],
  );
});

test('only a CR before LF is stripped; a lone CR inside a line is kept', () => {
  const out = whole(Buffer.from('a\rb\r\nc\r\r\n'), 1024);
  assert.deepEqual(
    out.map((l) => l.text),
    ['a\rb', 'c\r'],
  );
  assert.deepEqual(
    out.map((l) => [l.offset, l.next]),
    [
      [0, 5],
      [5, 9],
    ],
  );
});

test('invalid UTF-8 becomes U+FFFD while offsets count raw bytes; multibyte text is decoded', () => {
  const input = Buffer.concat([
    Buffer.from([0x61, 0xff, 0x62, 0x0a]), // a, invalid byte, b
    Buffer.from([0x63, 0xe2, 0x82, 0x0a]), // c, truncated 3-byte sequence
    Buffer.from([0xc3, 0x0a]), // lone lead byte
    Buffer.from([0x80, 0x80, 0x0a]), // stray continuation bytes
    Buffer.from('é€😀\n', 'utf8'), // 2-, 3- and 4-byte characters
    Buffer.from([0xf0, 0x9f, 0x98, 0x0d, 0x0a]), // truncated 4-byte sequence before CRLF
  ]);
  const out = whole(input, 1024);
  assert.equal(out.length, 6);
  assert.equal(out[0]!.text, 'a\ufffdb');
  assert.equal(out[1]!.text, 'c\ufffd');
  assert.equal(out[2]!.text, '\ufffd');
  assert.equal(out[3]!.text, '\ufffd\ufffd');
  assert.equal(out[4]!.text, 'é€😀');
  assert.equal(out[5]!.text, '\ufffd');
  assert.deepEqual(
    out.map((l) => [l.offset, l.next, l.rawBytes]),
    [
      [0, 4, 4],
      [4, 8, 4],
      [8, 10, 2],
      [10, 13, 3],
      [13, 23, 10],
      [23, 28, 5],
    ],
  );
  assert.equal(out.at(-1)!.next, input.length);
});

test('NUL bytes are kept in the text', () => {
  const out = whole(Buffer.from([0x00, 0x61, 0x00, 0x0a, 0x00, 0x0a]), 1024);
  assert.deepEqual(
    out.map((l) => [l.text, l.offset, l.next]),
    [
      ['\0a\0', 0, 4],
      ['\0', 4, 6],
    ],
  );
});

test('overlong line: pieces of at most maxLineBytes, all cut, contiguous, last ends at the newline', () => {
  const max = 10;
  const line = 'x'.repeat(35);
  const input = Buffer.from(`short\n${line}\nafter\n`);
  const out = whole(input, max);
  assert.deepEqual(
    out.map((l) => [l.text, l.offset, l.next, l.cut]),
    [
      ['short', 0, 6, false],
      ['x'.repeat(10), 6, 16, true],
      ['x'.repeat(10), 16, 26, true],
      ['x'.repeat(10), 26, 36, true],
      ['x'.repeat(5), 36, 42, true],
      ['after', 42, 48, false],
    ],
  );
  for (let i = 1; i < out.length; i++) assert.equal(out[i]!.offset, out[i - 1]!.next);
  for (const l of out) assert.equal(l.rawBytes, l.next - l.offset);
});

test('a line of exactly maxLineBytes is not cut; one byte more is', () => {
  const max = 8;
  const exact = whole(Buffer.from('12345678\n'), max);
  assert.deepEqual(exact, [{ text: '12345678', rawBytes: 9, offset: 0, next: 9, cut: false }]);
  const over = whole(Buffer.from('123456789\n'), max);
  assert.deepEqual(
    over.map((l) => [l.text, l.offset, l.next, l.cut]),
    [
      ['12345678', 0, 8, true],
      ['9', 8, 10, true],
    ],
  );
});

test('a cut does not split a multibyte character when it can be avoided', () => {
  const max = 10;
  // '€' is 3 bytes at [9, 12): a cut at 10 would split it, so the first piece ends at 9.
  const euro = whole(Buffer.from(`${'a'.repeat(9)}€bbb\n`), max);
  assert.deepEqual(
    euro.map((l) => [l.text, l.offset, l.next, l.cut]),
    [
      ['a'.repeat(9), 0, 9, true],
      ['€bbb', 9, 16, true],
    ],
  );
  // 4-byte characters: every piece decodes cleanly and stays within the limit.
  const emoji = Buffer.from(`${'😀'.repeat(7)}\n`);
  const pieces = whole(emoji, max);
  assert.ok(pieces.length > 1);
  for (const p of pieces) {
    assert.ok(!p.text.includes('\ufffd'), `piece ${JSON.stringify(p.text)} split a character`);
    assert.ok(p.cut);
  }
  assert.equal(pieces.map((p) => p.text).join(''), '😀'.repeat(7));
  for (const p of pieces.slice(0, -1)) assert.ok(p.next - p.offset <= max);
  // The same holds when the line arrives one byte at a time.
  const euroBytes = Buffer.from(`${'a'.repeat(9)}€bbb\n`);
  assert.deepEqual(
    feed(
      euroBytes,
      max,
      Array.from({ length: euroBytes.length }, () => 1),
    ),
    euro,
  );
  // Unavoidable: nothing but continuation bytes; cut at the limit anyway.
  const junk = whole(Buffer.concat([Buffer.alloc(25, 0x80), Buffer.from('\n')]), max);
  assert.deepEqual(
    junk.map((l) => [l.offset, l.next, l.cut]),
    [
      [0, 10, true],
      [10, 20, true],
      [20, 26, true],
    ],
  );
});

/** Mixed sample: LF, CRLF, empty lines, NUL, invalid UTF-8, multibyte characters, overlong lines, partial tail. */
function sample(): Buffer {
  return Buffer.concat([
    Buffer.from('one\n'),
    Buffer.from('two\r\n'),
    Buffer.from('\n'),
    Buffer.from([0x00, 0x41, 0xff, 0x0a]),
    Buffer.from('héllo wörld €€ 😀 end\n'), // overlong at max 12, characters across cut points
    Buffer.from('0123456789AB\r\n'), // exactly max + CR
    Buffer.from([0x62, 0xe2, 0x82, 0x0d, 0x0a]),
    Buffer.from('𝄞𝄞𝄞𝄞𝄞\n'), // 20 bytes of 4-byte characters
    Buffer.from('tail without newline 😀'),
  ]);
}

test('every 2-way split and 1-byte reads give exactly the lines of one whole read', () => {
  const max = 12;
  const input = sample();
  const expected = whole(input, max);
  // Sanity: the sample exercises what it claims to.
  assert.ok(expected.some((l) => l.cut));
  assert.ok(expected.some((l) => l.text.includes('\ufffd')));
  assert.equal(expected.at(-1)!.next, input.length);
  for (let k = 0; k <= input.length; k++) {
    assert.deepEqual(feed(input, max, [k, input.length - k]), expected, `split at byte ${k}`);
  }
  assert.deepEqual(
    feed(
      input,
      max,
      Array.from({ length: input.length }, () => 1),
    ),
    expected,
    '1-byte reads',
  );
});

test('every 3-way split of the sample gives the same lines', () => {
  const max = 12;
  const input = sample();
  const expected = whole(input, max);
  for (let a = 0; a <= input.length; a++) {
    for (let b = a; b <= input.length; b++) {
      const got = feed(input, max, [a, b - a, input.length - b]);
      assert.deepEqual(got, expected, `split at bytes ${a} and ${b}`);
    }
  }
});

test('a reused read buffer does not corrupt pending bytes', () => {
  const { f, out } = framer(64);
  const buf = Buffer.alloc(32);
  buf.write('first part ', 0);
  f.push(buf, 11);
  buf.fill(0x0a); // overwritten with newlines after the read
  buf.write('second part ', 0);
  f.push(buf, 12);
  buf.fill(0x21);
  buf.write('end\nnext', 0);
  f.push(buf, 8);
  buf.fill(0x0a);
  assert.deepEqual(out, [
    { text: 'first part second part end', rawBytes: 27, offset: 0, next: 27, cut: false },
  ]);
  assert.equal(f.pendingBytes, 4);
  assert.equal(f.committedEnd, 27);
  f.flushPartial();
  assert.deepEqual(out[1], { text: 'next', rawBytes: 4, offset: 27, next: 31, cut: false });
});

test('flushPartial emits the unfinished line with its offsets, once', () => {
  const { f, out } = framer(1024, 100);
  f.flushPartial();
  assert.equal(out.length, 0, 'nothing pending: nothing emitted');
  const b = Buffer.from('abc\ndef');
  f.push(b, b.length);
  assert.deepEqual(out, [{ text: 'abc', rawBytes: 4, offset: 100, next: 104, cut: false }]);
  assert.equal(f.pendingBytes, 3);
  assert.equal(f.committedEnd, 104);
  f.flushPartial();
  assert.deepEqual(out[1], { text: 'def', rawBytes: 3, offset: 104, next: 107, cut: false });
  assert.equal(f.pendingBytes, 0);
  assert.equal(f.committedEnd, 107);
  f.flushPartial();
  assert.equal(out.length, 2);
  // Reading goes on after the flush at the right offset.
  const c = Buffer.from('ghi\n');
  f.push(c, c.length);
  assert.deepEqual(out[2], { text: 'ghi', rawBytes: 4, offset: 107, next: 111, cut: false });
});

test('flushPartial of the rest of a cut line marks it cut', () => {
  const { f, out } = framer(4);
  const b = Buffer.from('abcdefg');
  f.push(b, b.length);
  f.flushPartial();
  assert.deepEqual(
    out.map((l) => [l.text, l.offset, l.next, l.cut]),
    [
      ['abcd', 0, 4, true],
      ['efg', 4, 7, true],
    ],
  );
});

test('reset() drops pending bytes and the cut state, and restarts at the given offset', () => {
  const { f, out } = framer(4);
  const b = Buffer.from('abcdefg'); // cut piece emitted, 'efg' pending
  f.push(b, b.length);
  assert.equal(out.length, 1);
  f.reset(0);
  assert.equal(f.pendingBytes, 0);
  assert.equal(f.committedEnd, 0);
  const c = Buffer.from('ok\n');
  f.push(c, c.length);
  assert.deepEqual(out[1], { text: 'ok', rawBytes: 3, offset: 0, next: 3, cut: false });
  f.push(Buffer.from('zz'), 2);
  f.reset(500);
  f.flushPartial();
  assert.equal(out.length, 2, 'reset dropped the partial line');
  f.push(Buffer.from('x\n'), 2);
  assert.deepEqual(out[2], { text: 'x', rawBytes: 2, offset: 500, next: 502, cut: false });
});

/** The text a piece must carry, derived from its raw bytes. */
function expectedContent(raw: Buffer, endsAtNewline: boolean, isFlush: boolean): Buffer {
  if (endsAtNewline) {
    let c = raw.subarray(0, raw.length - 1);
    if (c.length > 0 && c[c.length - 1] === 0x0d) c = c.subarray(0, c.length - 1);
    return c;
  }
  if (isFlush && raw.length > 0 && raw[raw.length - 1] === 0x0d) return raw.subarray(0, raw.length - 1);
  return raw;
}

test('randomized: [offset, next) ranges cover the input exactly, texts and cut flags match the bytes', () => {
  const rnd = prng(0x10cf);
  const alphabet: number[][] = [
    [0x61],
    [0x62],
    [0x20],
    [0x0a],
    [0x0a],
    [0x0d],
    [0x0d, 0x0a],
    [0x00],
    [0xff],
    [0x80],
    [0xc3, 0xa9], // é
    [0xe2, 0x82, 0xac], // €
    [0xf0, 0x9f, 0x98, 0x80], // 😀
    [0xe2, 0x82], // truncated
  ];
  for (let round = 0; round < 300; round++) {
    const parts: number[] = [];
    const len = 1 + Math.floor(rnd() * 200);
    while (parts.length < len) {
      // Long runs without newlines now and then, so lines get cut.
      const piece =
        rnd() < 0.1
          ? Array(Math.floor(rnd() * 40)).fill(0x78)
          : alphabet[Math.floor(rnd() * alphabet.length)]!;
      parts.push(...piece);
    }
    const input = Buffer.from(parts);
    const max = 4 + Math.floor(rnd() * 20);
    const start = Math.floor(rnd() * 1000);
    const chunks: number[] = [];
    for (let left = input.length; left > 0; ) {
      const n = Math.min(left, Math.floor(rnd() * 12));
      chunks.push(n);
      left -= n;
    }
    const out = feed(input, max, chunks, { start });
    const ctx = `round ${round} (max ${max}, input ${input.toString('hex')})`;

    // Same lines as a single read.
    assert.deepEqual(out, whole(input, max, start), `${ctx}: chunked differs from whole`);

    // Contiguous cover, no gap or overlap; the raw bytes concatenate back to the input.
    let at = start;
    const raws: Buffer[] = [];
    for (const l of out) {
      assert.equal(l.offset, at, `${ctx}: gap or overlap`);
      assert.ok(l.next > l.offset, `${ctx}: empty range`);
      assert.equal(l.rawBytes, l.next - l.offset, ctx);
      raws.push(input.subarray(l.offset - start, l.next - start));
      at = l.next;
    }
    assert.equal(at, start + input.length, `${ctx}: input not covered to its end`);
    assert.ok(Buffer.concat(raws).equals(input), ctx);

    // Each piece: text = decoded content; content within the limit; cut exactly for overlong lines.
    let lineStart = 0;
    let lineCut: boolean | null = null;
    out.forEach((l, i) => {
      const raw = input.subarray(l.offset - start, l.next - start);
      const endsAtNewline = raw[raw.length - 1] === 0x0a;
      const isLast = i === out.length - 1;
      const content = expectedContent(raw, endsAtNewline, isLast);
      assert.equal(l.text, content.toString('utf8'), `${ctx}: text of piece ${i}`);
      assert.ok(content.length <= max, `${ctx}: piece ${i} longer than ${max}`);
      if (!endsAtNewline && !isLast) assert.equal(l.cut, true, `${ctx}: piece ${i} ends mid-line, not cut`);
      lineCut ??= l.cut;
      assert.equal(l.cut, lineCut, `${ctx}: pieces of one line disagree on cut`);
      if (endsAtNewline || isLast) {
        const lineLen = l.next - start - lineStart - (endsAtNewline ? 1 : 0);
        assert.equal(l.cut, lineLen > max, `${ctx}: line at ${lineStart} (${lineLen} bytes) cut=${l.cut}`);
        lineStart = l.next - start;
        lineCut = null;
      }
    });
  }
});

test('the unfinished-line buffer goes back to its usual size once a long line is out', () => {
  const max = 1024 * 1024;
  const { f, out } = framer(max);
  const chunk = 16 * 1024;
  const push = (data: Buffer) => {
    // Through a reused read buffer, a read at a time, as the tailer does.
    const buf = Buffer.alloc(chunk);
    for (let pos = 0; pos < data.length; pos += chunk) {
      const n = Math.min(chunk, data.length - pos);
      data.copy(buf, 0, pos, pos + n);
      f.push(buf, n);
    }
  };
  push(Buffer.from('short\n'));
  assert.ok(f.pendingCapacity <= PENDING_KEEP_BYTES);
  // A 600 KiB line assembled across reads: the buffer grows to hold it...
  push(Buffer.alloc(600 * 1024, 0x61));
  assert.ok(f.pendingCapacity >= 600 * 1024, `capacity ${f.pendingCapacity} while the line is unfinished`);
  // ...and is let go when the line ends (here with a partial line after it, which is kept).
  push(Buffer.from('\npartial'));
  assert.equal(out.at(-1)!.text.length, 600 * 1024);
  assert.ok(f.pendingCapacity <= PENDING_KEEP_BYTES, `capacity ${f.pendingCapacity} after the line`);
  assert.equal(f.pendingBytes, 'partial'.length);
  // A line over the limit is cut into pieces; after it too the buffer is back to its usual size.
  push(Buffer.alloc(max + 300 * 1024, 0x62));
  push(Buffer.from('\n'));
  assert.ok(f.pendingCapacity <= PENDING_KEEP_BYTES, `capacity ${f.pendingCapacity} after a cut line`);
  const tail = out.slice(-2);
  assert.deepEqual(
    tail.map((l) => [l.text.length, l.cut]),
    [
      [max, true],
      [300 * 1024 + 'partial'.length, true],
    ],
  );
  // What was kept across the shrink is intact: the next line is framed with its exact offset.
  push(Buffer.from('after\n'));
  assert.equal(out.at(-1)!.text, 'after');
  assert.equal(out.at(-1)!.offset, 6 + 600 * 1024 + 1 + 'partial'.length + max + 300 * 1024 + 1);
  f.flushPartial();
  assert.ok(f.pendingCapacity <= PENDING_KEEP_BYTES);
});

test('lines left by a bulk receiver go to line, and the rest are offered without being framed again', () => {
  const table = new Int32Array(2 * 16);
  const offers: number[] = [];
  const seen: string[] = [];
  const framer = new LineFramer(
    {
      lineTable: table,
      // Takes every other line: the framer must pass each left one to `line` and go on from the next.
      lines: (buf, first, count) => {
        offers.push(first);
        const take = first % 2 === 0 ? 1 : 0;
        for (let i = first; i < first + Math.min(take, count); i++)
          seen.push(buf.toString('utf8', table[2 * i]!, table[2 * i + 1]!));
        return Math.min(take, count);
      },
      line: (buf, start, end) => seen.push(buf.toString('utf8', start, end)),
    },
    1 << 20,
    0,
  );
  const lines = Array.from({ length: 10 }, (_, i) => `line ${i}`);
  const input = Buffer.from(`${lines.join('\n')}\n`);
  framer.push(input, input.length);
  assert.deepEqual(seen, lines, 'every line once, in order');
  assert.deepEqual(
    offers,
    [0, 2, 4, 6, 8],
    'offered from the line after the one left, never from the start again',
  );
});
