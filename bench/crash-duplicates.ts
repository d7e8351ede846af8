// Duplicates per SIGKILL: a real agent, a writer at a steady rate, N kills and restarts, ids counted at a collector.
//
//   node --import tsx bench/crash-duplicates.ts [--main dist/main.js] [--kills 10] [--rate 2000]
//
// The agent runs with the default settings (only paths, endpoint and state directory set). Each round lets it
// ship for 1 to 2 s, then SIGKILLs it and starts it again at once. At the end the writer stops, the last agent
// catches up and is stopped with SIGTERM. Printed: records received, distinct ids, duplicates (records with
// an id already received) per kill, lines lost and lines received under more than one id (both must be 0).
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startCollector } from '../test/helpers/collector.js';
import { waitFor } from '../test/helpers/wait-for.js';

const { values } = parseArgs({
  options: {
    main: { type: 'string', default: 'dist/main.js' },
    kills: { type: 'string', default: '10' },
    rate: { type: 'string', default: '2000' },
    seed: { type: 'string', default: '1' },
  },
});
const MAIN = resolve(values.main!);
const KILLS = Number(values.kills);
const RATE = Number(values.rate);

// A small deterministic generator for the time each round runs (reproducible rounds across code versions).
let state = Number(values.seed) >>> 0 || 1;
const rand = () => {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return (state >>> 0) / 2 ** 32;
};

const dir = mkdtempSync(join(tmpdir(), 'logferry-crashdup-'));
const logs = join(dir, 'logs');
mkdirSync(logs);
const file = join(logs, 'app.log');
const c = await startCollector();

let seq = 0;
const TICK_MS = 10;
const perTick = Math.max(1, Math.round((RATE * TICK_MS) / 1000));
const writer = setInterval(() => {
  let s = '';
  for (let i = 0; i < perTick; i++) s += `line ${++seq} ${'x'.repeat(80)}\n`;
  appendFileSync(file, s);
}, TICK_MS);

function start(): { proc: ChildProcess; exited: Promise<number | null>; out: () => string } {
  let out = '';
  const proc = spawn(process.execPath, [MAIN], {
    env: {
      PATH: process.env.PATH ?? '',
      LOGFERRY_PATHS: join(logs, '*.log'),
      LOGFERRY_ENDPOINT: c.url,
      LOGFERRY_STATE_DIR: join(dir, 'state'),
      LOGFERRY_HTTP_PORT: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return { proc, exited, out: () => out };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
try {
  for (let k = 0; k < KILLS; k++) {
    const a = start();
    await waitFor(() => a.out().includes('logferry started'), { what: 'agent start' });
    const before = c.records.length;
    await sleep(1000 + Math.round(rand() * 1000));
    if (c.records.length === before) throw new Error(`round ${k}: nothing delivered:\n${a.out()}`);
    a.proc.kill('SIGKILL');
    await a.exited;
  }
  clearInterval(writer);
  const last = start();
  await waitFor(() => last.out().includes('logferry started'), { what: 'agent start' });
  const want = seq;
  await waitFor(() => new Set(c.records.map((r) => r.message)).size >= want, {
    timeoutMs: 60_000,
    what: `all ${want} lines`,
  });
  last.proc.kill('SIGTERM');
  await last.exited;
  const idsOf = new Map<number, Set<string>>();
  for (const r of c.records) {
    const n = Number(r.message.split(' ')[1]);
    if (!idsOf.has(n)) idsOf.set(n, new Set());
    idsOf.get(n)!.add(r.id);
  }
  let lost = 0;
  for (let i = 1; i <= want; i++) if (!idsOf.has(i)) lost++;
  const unstableIds = [...idsOf.values()].filter((s) => s.size > 1).length;
  const dups = c.records.length - c.ids.size;
  console.log(
    JSON.stringify({
      main: values.main,
      node: process.version,
      rate: RATE,
      kills: KILLS,
      lines: want,
      records: c.records.length,
      distinctIds: c.ids.size,
      duplicates: dups,
      duplicatesPerKill: Math.round(dups / KILLS),
      lost,
      unstableIds,
    }),
  );
} finally {
  clearInterval(writer);
  await c.close();
  rmSync(dir, { recursive: true, force: true });
}
