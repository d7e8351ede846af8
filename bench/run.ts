// `npm run bench`: the agent as a real process against a local collector, with a raw baseline in the same run.
//
// Prints medians of BENCH_RUNS runs (default 3). Figures from one run are ratios against the baseline.
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REGEX_GUARD_FLAGS } from '../src/parse/safe-regex.js';
import { type CountingCollector, startCountingCollector } from './counting-collector.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const BACKLOG_MIB = Number(process.env.BENCH_BACKLOG_MIB ?? 256);
const FILES = 4;
const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 10);
const LATENCY_RATE = 5000;
const IDLE_FILES = 1000;
const IDLE_WINDOW_S = 10;
/** BENCH_AGENT: another build's dist/main.js, to compare two builds with one harness (default: this). */
const MAIN = process.env.BENCH_AGENT ?? fileURLToPath(new URL('../dist/main.js', import.meta.url));
const REST_RUNS = 3;
const REST_SETTLE_S = 5;
const BASELINE = fileURLToPath(new URL('./raw-baseline.mjs', import.meta.url));
const CLK_TCK = 100;
/** BENCH_ONLY=catchup,latency,idle,rest picks parts (default: all). */
const ONLY = new Set((process.env.BENCH_ONLY ?? 'catchup,latency,idle,rest').split(','));

const root = mkdtempSync(join(tmpdir(), 'logferry-bench-'));
process.on('exit', () => rmSync(root, { recursive: true, force: true }));

function line(i: number): string {
  // ~200 bytes, like a typical structured access log line.
  return `2026-11-25T12:00:00.${String(i % 1000).padStart(3, '0')}Z INFO [worker-${i % 8}] request handled method=GET path=/api/v1/items/${i} status=200 duration_ms=${i % 997} user=u${i % 5000} trace=4bf92f3577b34da6a3ce929d0e0e${String(i % 10000).padStart(4, '0')}\n`;
}

function writeBacklog(dir: string): { lines: number; bytes: number; files: string[] } {
  mkdirSync(dir, { recursive: true });
  const perFile = (BACKLOG_MIB * 1024 * 1024) / FILES;
  let lines = 0;
  let bytes = 0;
  const files: string[] = [];
  for (let f = 0; f < FILES; f++) {
    const path = join(dir, `app-${f}.log`);
    files.push(path);
    writeFileSync(path, '');
    let written = 0;
    while (written < perFile) {
      const parts: string[] = [];
      let chunk = 0;
      while (chunk < 4 * 1024 * 1024 && written + chunk < perFile) {
        const l = line(lines++);
        parts.push(l);
        chunk += l.length;
      }
      appendFileSync(path, parts.join(''));
      written += chunk;
    }
    bytes += written;
  }
  return { lines, bytes, files };
}

function procStats(pid: number): { cpuSeconds: number; peakRssMB: number; rssMB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const hwm = /VmHWM:\s+(\d+)/.exec(status);
  const rss = /VmRSS:\s+(\d+)/.exec(status);
  return { cpuSeconds, peakRssMB: Number(hwm?.[1] ?? 0) / 1024, rssMB: Number(rss?.[1] ?? 0) / 1024 };
}

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The agent runs as the Docker image runs it: with the image's NODE_OPTIONS (V8 flags). */
const IMAGE_NODE_OPTIONS =
  /NODE_OPTIONS=(\S+)/.exec(
    readFileSync(fileURLToPath(new URL('../Dockerfile', import.meta.url)), 'utf8'),
  )?.[1] ?? '';

/** A free TCP port on loopback, for the agent's health server (on by default, so on in the bench too). */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** The agent as the image starts it, with default settings (the health server and its metrics on), but for `env`. */
async function startAgent(env: Record<string, string>): Promise<ChildProcess> {
  return spawn(process.execPath, [...REGEX_GUARD_FLAGS, MAIN], {
    env: {
      PATH: process.env.PATH ?? '',
      NODE_OPTIONS: IMAGE_NODE_OPTIONS,
      LOGFERRY_HTTP_PORT: String(await freePort()),
      LOGFERRY_LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

async function stop(p: ChildProcess): Promise<void> {
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await exited;
}

interface Catchup {
  seconds: number;
  mbps: number;
  linesPerSec: number;
  cpuSecondsPerGB: number;
  peakRssMB: number;
}

async function catchup(
  kind: 'agent' | 'baseline',
  backlog: { lines: number; bytes: number; files: string[] },
  compression: 'none' | 'gzip',
  run: number,
  /** More settings of the agent (the filters' run). */
  extra: Record<string, string> = {},
): Promise<Catchup> {
  const collector: CountingCollector = await startCountingCollector();
  const t0 = performance.now();
  const p =
    kind === 'agent'
      ? await startAgent({
          LOGFERRY_PATHS: `${join(root, 'backlog')}/*.log`,
          LOGFERRY_ENDPOINT: collector.url,
          LOGFERRY_STATE_DIR: join(root, `state-${compression}-${run}-${Object.keys(extra).join('-')}`),
          LOGFERRY_COMPRESSION: compression,
          ...extra,
        })
      : spawn(process.execPath, [BASELINE, collector.url, ...backlog.files], { stdio: 'inherit' });
  let stats = { cpuSeconds: 0, peakRssMB: 0 };
  let gone = false;
  const exited = new Promise<void>((r) =>
    p.once('exit', () => {
      gone = true;
      r();
    }),
  );
  // The baseline exits when done: sample it while it runs.
  const sampler = setInterval(() => {
    try {
      stats = procStats(p.pid!);
    } catch {}
  }, 50);
  await until(() => collector.lines >= backlog.lines || gone, 15 * 60_000, `${kind} to deliver the backlog`);
  if (collector.lines < backlog.lines) throw new Error(`bench: ${kind} exited before delivering the backlog`);
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  if (kind === 'agent') {
    stats = procStats(p.pid!);
    await stop(p);
  } else await exited;
  await collector.close();
  return {
    seconds,
    mbps: backlog.bytes / 1e6 / seconds,
    linesPerSec: backlog.lines / seconds,
    cpuSecondsPerGB: stats.cpuSeconds / (backlog.bytes / 1e9),
    peakRssMB: stats.peakRssMB,
  };
}

async function latency(): Promise<{ p50: number; p99: number; rate: number }> {
  const dir = join(root, 'latency');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'app.log');
  writeFileSync(file, '');
  const collector = await startCountingCollector();
  const p = await startAgent({
    LOGFERRY_PATHS: `${dir}/*.log`,
    LOGFERRY_ENDPOINT: collector.url,
    LOGFERRY_STATE_DIR: join(root, 'state-latency'),
  });
  // Let the agent start and follow the file before measuring.
  appendFileSync(file, 'warm-up\n');
  await until(() => collector.lines >= 1, 30_000, 'the agent to start');
  collector.sampleLatency = true;
  const start = Date.now();
  let written = 0;
  while (Date.now() - start < LATENCY_SECONDS * 1000) {
    const due = Math.floor(((Date.now() - start) / 1000) * LATENCY_RATE);
    if (due > written) {
      const parts: string[] = [];
      const wt = Date.now();
      for (; written < due; written++) parts.push(`${line(written).slice(0, 150)} wt=${wt}\n`);
      appendFileSync(file, parts.join(''));
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  const rate = written / ((Date.now() - start) / 1000);
  await until(() => collector.latencies.length >= written, 30_000, 'latency samples');
  await stop(p);
  await collector.close();
  const s = collector.latencies.sort((a, b) => a - b);
  return { p50: s[Math.floor(s.length * 0.5)]!, p99: s[Math.floor(s.length * 0.99)]!, rate };
}

async function idle(): Promise<{ cpuPercent: number }> {
  const dir = join(root, 'idle');
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < IDLE_FILES; i++) writeFileSync(join(dir, `quiet-${i}.log`), `${line(i)}`);
  const collector = await startCountingCollector();
  const p = await startAgent({
    LOGFERRY_PATHS: `${dir}/*.log`,
    LOGFERRY_ENDPOINT: collector.url,
    LOGFERRY_STATE_DIR: join(root, 'state-idle'),
  });
  await until(() => collector.lines >= IDLE_FILES, 60_000, 'the quiet files to be shipped');
  // Settle (the last checkpoint write), then measure a window of pure idling.
  await new Promise((r) => setTimeout(r, 3000));
  const a = procStats(p.pid!).cpuSeconds;
  const t = performance.now();
  await new Promise((r) => setTimeout(r, IDLE_WINDOW_S * 1000));
  const cpu = procStats(p.pid!).cpuSeconds - a;
  const cpuPercent = (cpu / ((performance.now() - t) / 1000)) * 100;
  await stop(p);
  await collector.close();
  return { cpuPercent };
}

/** RSS of the agent at rest: one small file shipped, then REST_SETTLE_S seconds of nothing to do. */
async function rest(run: number): Promise<number> {
  const dir = join(root, `rest-${run}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'app.log'), `${line(0)}${line(1)}${line(2)}`);
  const collector = await startCountingCollector();
  const p = await startAgent({
    LOGFERRY_PATHS: `${dir}/*.log`,
    LOGFERRY_ENDPOINT: collector.url,
    LOGFERRY_STATE_DIR: join(root, `state-rest-${run}`),
  });
  await until(() => collector.lines >= 3, 60_000, 'the small file to be shipped');
  await new Promise((r) => setTimeout(r, REST_SETTLE_S * 1000));
  const { rssMB } = procStats(p.pid!);
  await stop(p);
  await collector.close();
  return rssMB;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  process.stdout.write(
    `logferry bench: ${BACKLOG_MIB} MiB backlog in ${FILES} files, ${RUNS} runs, node ${process.version}, agent NODE_OPTIONS=${IMAGE_NODE_OPTIONS} (as in the Dockerfile)\n`,
  );
  const out: string[] = [''];
  if (ONLY.has('catchup')) out.push(...(await catchupAll()));
  if (ONLY.has('latency')) {
    const lat = await latency();
    out.push(
      `latency at ${lat.rate.toFixed(0)} lines/s for ${LATENCY_SECONDS} s (default flush interval 200 ms): p50 ${lat.p50} ms, p99 ${lat.p99} ms`,
    );
  }
  if (ONLY.has('idle')) {
    const idleCost = await idle();
    out.push(
      `idle: ${IDLE_FILES} quiet files watched: ${idleCost.cpuPercent.toFixed(2)}% CPU over ${IDLE_WINDOW_S} s`,
    );
  }
  if (ONLY.has('rest')) {
    const rss: number[] = [];
    for (let run = 0; run < REST_RUNS; run++) rss.push(await rest(run));
    out.push(
      `at rest: one small file shipped, ${REST_SETTLE_S} s later: RSS median ${median(rss).toFixed(1)} MB (runs: ${rss.map((x) => x.toFixed(1)).join(', ')})`,
    );
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

async function catchupAll(): Promise<string[]> {
  const backlog = writeBacklog(join(root, 'backlog'));
  process.stdout.write(`backlog: ${backlog.lines} lines, ${(backlog.bytes / 1e6).toFixed(0)} MB\n`);
  const results: Record<string, Catchup[]> = { baseline: [], none: [], gzip: [], redact: [] };
  for (let run = 0; run < RUNS; run++) {
    // Interleaved, so a noisy neighbour hits all three alike.
    results.baseline!.push(await catchup('baseline', backlog, 'none', run));
    results.none!.push(await catchup('agent', backlog, 'none', run));
    results.gzip!.push(await catchup('agent', backlog, 'gzip', run));
    // The built-in redaction rules on (the records path): what the filters cost when on.
    results.redact!.push(await catchup('agent', backlog, 'none', run, { LOGFERRY_REDACT: 'default' }));
    const r = (k: string) => results[k]![run]!;
    process.stdout.write(
      `run ${run + 1}: baseline ${r('baseline').mbps.toFixed(1)} MB/s, agent ${r('none').mbps.toFixed(1)} MB/s ` +
        `(ratio ${(r('none').mbps / r('baseline').mbps).toFixed(2)}), gzip ${r('gzip').mbps.toFixed(1)} MB/s, ` +
        `LOGFERRY_REDACT=default ${r('redact').mbps.toFixed(1)} MB/s\n`,
    );
  }
  const row = (name: string, xs: Catchup[]) =>
    `| ${name} | ${median(xs.map((x) => x.mbps)).toFixed(1)} | ${median(xs.map((x) => x.linesPerSec / 1000)).toFixed(0)}k | ` +
    `${median(xs.map((x) => x.cpuSecondsPerGB)).toFixed(1)} | ${median(xs.map((x) => x.peakRssMB)).toFixed(0)} |`;
  const ratios = results.none!.map((x, i) => x.mbps / results.baseline![i]!.mbps);
  return [
    `medians of ${RUNS} runs (catch-up of the ${BACKLOG_MIB} MiB backlog, agent with acknowledgements and fsync'd checkpoints):`,
    '| what | MB/s | lines/s | CPU s per GB | peak RSS MB |',
    '| --- | --- | --- | --- | --- |',
    row('raw baseline (read + POST, unparsed)', results.baseline!),
    row('logferry, compression none', results.none!),
    row('logferry, gzip', results.gzip!),
    row('logferry, compression none, LOGFERRY_REDACT=default', results.redact!),
    '',
    `throughput ratio logferry/baseline (none): median ${median(ratios).toFixed(2)} (runs: ${ratios.map((r) => r.toFixed(2)).join(', ')})`,
    `redaction: CPU per line ${(
      ((median(results.redact!.map((x) => x.cpuSecondsPerGB)) -
        median(results.none!.map((x) => x.cpuSecondsPerGB))) *
        1e9) /
        (backlog.lines / (backlog.bytes / 1e9))
    ).toFixed(
      0,
    )} ns more than without (medians of CPU s per GB, ${(backlog.bytes / backlog.lines).toFixed(0)}-byte lines)`,
  ];
}

await main();
