// `npm run bench:encode`: the hot path alone (framing + encoding into a body), raw path vs records path.
//
// Both run in the same process on the same reads, alternated; prints ns per line (median of BENCH_RUNS) and
// the ratio. The raw path is what the agent does for plain lines with the ndjson sink (WebAssembly, many
// lines per call, the lines it leaves through the records path); the records path builds a LogRecord per
// line and encodes it with the reference encoder, as every other configuration does.
import { ByteArena } from '../src/arena/byte-arena.js';
import { RawNdjsonWriter, WRITER_BYTES } from '../src/arena/raw-ndjson-writer.js';
import { LineFramer, type LineReceiver, textLines } from '../src/frame/line-framer.js';
import { NdjsonSink } from '../src/sinks/ndjson.js';
import type { LogRecord } from '../src/sinks/sink.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const LINES = 500_000;
const READ = 256 * 1024;
const BODY = 2 * 1024 * 1024;

const SHAPES: Record<string, (i: number) => string> = {
  plain: (i) =>
    `2026-11-25T12:00:00.${String(i % 1000).padStart(3, '0')}Z INFO [worker-${i % 8}] request handled method=GET path=/api/v1/items/${i} status=200 duration_ms=${i % 997} user=u${i % 5000}`,
  json: (i) =>
    `{"ts":"2026-11-25T12:00:00.000Z","level":"info","msg":"request handled","path":"/api/v1/items/${i}","status":200,"duration_ms":${i % 997},"user":"u${i % 5000}"}`,
  utf8: (i) =>
    `2026-11-25T12:00:00Z INFO 请求已处理 路径=/api/v1/items/${i} 状态=200 用户=ü${i % 5000} température=${i % 40}°C`,
};

const PATH = '/var/log/pods/shop_web-7d9f_0b7c/app/app.log';
const src = {
  fileJson: JSON.stringify(PATH),
  idPrefix: '0123456789abcdef:',
  timestamp: '2026-11-25T12:00:00.000Z',
};

/** Frame `input` read by read through one reused buffer, encoding each line into a body; ns per line. */
function run(input: Buffer, lines: number, mode: 'raw' | 'records'): number {
  const sink = new NdjsonSink(new URL('http://collector/'), { app: 'shop' });
  const arena = ByteArena.create([BODY, READ, WRITER_BYTES]);
  if (arena === null) throw new Error('no WebAssembly SIMD here');
  const writer = new RawNdjsonWriter(sink.labelsJson, arena);
  const body = arena.region(BODY);
  let pos = 0;
  const records = textLines((text, _raw, offset, _n, cut) => {
    if (pos > BODY / 2) pos = 0;
    const r: LogRecord = {
      message: text,
      file: PATH,
      offset,
      id: `${src.idPrefix}${offset}`,
      timestamp: src.timestamp,
      cut,
    };
    pos += body.write(sink.line(r), pos);
  });
  const receiver: LineReceiver =
    mode === 'records'
      ? records
      : {
          line: records.line,
          lineTable: writer.lineTable,
          lines: (buf, first, count, offset) => {
            if (pos > BODY / 2) pos = 0;
            writer.use(src);
            const n = writer.writeLines(body, pos, pos + BODY / 4, buf, first, count, offset);
            if (n > 0) pos = writer.linesEnd;
            return n;
          },
        };
  const framer = new LineFramer(receiver, 1024 * 1024, 0);
  const read = arena.region(READ);
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
  '| lines | records path ns/line | raw path ns/line | raw path speed-up |\n| --- | --- | --- | --- |\n',
);
for (const [name, shape] of Object.entries(SHAPES)) {
  const parts: string[] = [];
  for (let i = 0; i < LINES; i++) parts.push(`${shape(i)}\n`);
  const input = Buffer.from(parts.join(''));
  const rec: number[] = [];
  const raw: number[] = [];
  run(input, LINES, 'records');
  run(input, LINES, 'raw');
  for (let r = 0; r < RUNS; r++) {
    rec.push(run(input, LINES, 'records'));
    raw.push(run(input, LINES, 'raw'));
  }
  const a = median(rec);
  const b = median(raw);
  process.stdout.write(
    `| ${name} (${Math.round(input.length / LINES)} B) | ${a.toFixed(0)} | ${b.toFixed(0)} | ${(a / b).toFixed(2)}x |\n`,
  );
}
