// `npm run bench:encode`: the hot path alone (framing + encoding into a body), byte writer vs string encoder.
// All run in the same process on the same reads; prints ns per line (median of BENCH_RUNS) and the ratios.
// The byte writer runs three times: on heap buffers (its JavaScript escaping), on a byte arena (WebAssembly,
// a call per line), and on a byte arena with many lines per call (`writeLines`, what the agent's raw path does).
import { ByteArena } from '../src/arena/byte-arena.js';
import { LineFramer, textLines } from '../src/frame/line-framer.js';
import { NdjsonEncoder } from '../src/sinks/ndjson-encoder.js';
import { NdjsonLineWriter, PIECES_BYTES } from '../src/sinks/ndjson-line-writer.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const LINES = 500_000;
const READ = 256 * 1024;

const SHAPES: Record<string, (i: number) => string> = {
  plain: (i) =>
    `2026-11-25T12:00:00.${String(i % 1000).padStart(3, '0')}Z INFO [worker-${i % 8}] request handled method=GET path=/api/v1/items/${i} status=200 duration_ms=${i % 997} user=u${i % 5000}`,
  json: (i) =>
    `{"ts":"2026-11-25T12:00:00.000Z","level":"info","msg":"request handled","path":"/api/v1/items/${i}","status":200,"duration_ms":${i % 997},"user":"u${i % 5000}"}`,
  utf8: (i) =>
    `2026-11-25T12:00:00Z INFO 请求已处理 路径=/api/v1/items/${i} 状态=200 用户=ü${i % 5000} température=${i % 40}°C`,
};

const src = {
  fileJson: JSON.stringify('/var/log/pods/shop_web-7d9f_0b7c/app/app.log'),
  idPrefix: '0123456789abcdef:',
  timestamp: '2026-11-25T12:00:00.000Z',
};

/** Frame `input` read by read through one reused buffer, encoding each line into a body; ns per line. */
function run(input: Buffer, lines: number, mode: 'bytes' | 'arena' | 'lines' | 'string'): number {
  const encoder = new NdjsonEncoder({ app: 'shop' });
  const inArena = mode === 'arena' || mode === 'lines';
  const arena = inArena ? ByteArena.create([2 * 1024 * 1024, READ, PIECES_BYTES]) : null;
  if (inArena && arena === null) throw new Error('no WebAssembly SIMD here');
  const writer = new NdjsonLineWriter(encoder.labelsJson, arena);
  const body = arena?.region(2 * 1024 * 1024) ?? Buffer.allocUnsafe(2 * 1024 * 1024);
  let pos = 0;
  const receiver =
    mode !== 'string'
      ? {
          line: (
            buf: Buffer,
            start: number,
            end: number,
            _raw: number,
            offset: number,
            _n: number,
            cut: boolean,
          ) => {
            if (pos > 1024 * 1024) pos = 0;
            writer.bound(src, end - start);
            pos = writer.write(body, pos, buf, start, end, offset, cut);
          },
          lines:
            mode === 'lines'
              ? (buf: Buffer, start: number, end: number, offset: number, maxLine: number) => {
                  if (pos > 1024 * 1024) pos = 0;
                  writer.use(src);
                  const stop = writer.writeLines(
                    body,
                    pos,
                    pos + 1024 * 1024,
                    buf,
                    start,
                    end,
                    offset,
                    maxLine,
                    1e9,
                  );
                  if (writer.linesWritten > 0) pos = writer.linesEnd;
                  return stop;
                }
              : undefined,
        }
      : textLines((text, _raw, offset, _n, cut) => {
          if (pos > 1024 * 1024) pos = 0;
          pos += body.write(encoder.encode(src, text, offset, src.timestamp, cut), pos);
        });
  const framer = new LineFramer(receiver, 1024 * 1024, 0);
  const read = arena?.region(READ) ?? Buffer.allocUnsafe(READ);
  const t0 = process.hrtime.bigint();
  for (let at = 0; at < input.length; ) {
    const n = input.copy(read, 0, at, at + READ);
    framer.push(read, n);
    at += n;
  }
  return Number(process.hrtime.bigint() - t0) / lines;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

process.stdout.write(`encode bench: ${LINES} lines per shape, ${RUNS} runs, node ${process.version}\n\n`);
process.stdout.write(
  '| lines | string encoder ns/line | byte writer, JavaScript | WebAssembly, per line | WebAssembly, many lines per call | ratios to the string encoder |\n' +
    '| --- | --- | --- | --- | --- | --- |\n',
);
for (const [name, shape] of Object.entries(SHAPES)) {
  const parts: string[] = [];
  for (let i = 0; i < LINES; i++) parts.push(`${shape(i)}\n`);
  const input = Buffer.from(parts.join(''));
  const str: number[] = [];
  const bytes: number[] = [];
  const wasm: number[] = [];
  const many: number[] = [];
  // Alternated, after one warm-up each, so all see the same machine.
  run(input, LINES, 'string');
  run(input, LINES, 'bytes');
  run(input, LINES, 'arena');
  run(input, LINES, 'lines');
  for (let r = 0; r < RUNS; r++) {
    str.push(run(input, LINES, 'string'));
    bytes.push(run(input, LINES, 'bytes'));
    wasm.push(run(input, LINES, 'arena'));
    many.push(run(input, LINES, 'lines'));
  }
  const s = median(str);
  const b = median(bytes);
  const w = median(wasm);
  const m = median(many);
  process.stdout.write(
    `| ${name} (${Math.round(input.length / LINES)} B) | ${s.toFixed(0)} | ${b.toFixed(0)} | ${w.toFixed(0)} | ${m.toFixed(0)} | ` +
      `${(s / b).toFixed(2)}x, ${(s / w).toFixed(2)}x, ${(s / m).toFixed(2)}x |\n`,
  );
}
