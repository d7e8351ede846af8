// `logferry status`: each file's delivered offset against its size, whether delivery is held, dead letters.
//
// Offsets come from the state dir and the live agent; why delivery is held and the dead-letter files come
// from the live agent's `GET /status`.
import { stat } from 'node:fs/promises';
import { CheckpointStore } from '../checkpoint/checkpoint-store.js';
import { deadLetterBytes } from '../send/dead-letter.js';
import { fileKey } from '../tail/file-identity.js';
import { createLogger } from '../telemetry/logger.js';
import { type AgentStatus, renderAgentStatus } from './agent-status.js';

export interface StatusRow {
  path: string;
  delivered: number;
  size: number | null;
  lastDelivery: string;
}

export interface LiveMetrics {
  lagByFile: Map<string, number>;
  /** Files whose reading waits for LOGFERRY_RATE_LIMIT now. */
  rateLimited: Set<string>;
  /** Records not sent per file (filters, rate-limit drops). */
  droppedByFile: Map<string, number>;
  buffered: number | null;
  inFlight: number | null;
  oldestAge: number | null;
}

/** Parse the few series `status` shows from the Prometheus text format. */
export function parseMetrics(text: string): LiveMetrics {
  const m: LiveMetrics = {
    lagByFile: new Map(),
    rateLimited: new Set(),
    droppedByFile: new Map(),
    buffered: null,
    inFlight: null,
    oldestAge: null,
  };
  const fileOf = (series: string) => {
    const file = /file="((?:[^"\\]|\\.)*)"/.exec(series)?.[1];
    return file === undefined ? undefined : (JSON.parse(`"${file}"`) as string);
  };
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const sp = line.lastIndexOf(' ');
    const series = line.slice(0, sp);
    const value = Number(line.slice(sp + 1));
    if (series.startsWith('logferry_file_lag_bytes{')) {
      const file = /file="((?:[^"\\]|\\.)*)"/.exec(series)?.[1];
      if (file !== undefined) m.lagByFile.set(JSON.parse(`"${file}"`) as string, value);
    } else if (series.startsWith('logferry_file_rate_limited{')) {
      const file = fileOf(series);
      if (file !== undefined && value > 0) m.rateLimited.add(file);
    } else if (series.startsWith('logferry_file_records_dropped_total{')) {
      const file = fileOf(series);
      if (file !== undefined) m.droppedByFile.set(file, value);
    } else if (series === 'logferry_buffered_bytes') m.buffered = value;
    else if (series === 'logferry_requests_in_flight') m.inFlight = value;
    else if (series === 'logferry_oldest_undelivered_age_seconds') m.oldestAge = value;
  }
  return m;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

export function progressBar(done: number, total: number, width = 24): string {
  const ratio = total <= 0 ? 1 : Math.min(1, done / total);
  const filled = Math.round(ratio * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.floor(ratio * 100)).padStart(3)}%`;
}

function ago(iso: string, now: number): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  return `${Math.floor(s / 3600)}h ago`;
}

export function renderStatus(rows: StatusRow[], live: LiveMetrics | null, now = Date.now()): string {
  const out: string[] = [];
  if (live === null) out.push('agent: not reachable (showing the last checkpoint)');
  else {
    out.push(
      `agent: running; buffered ${formatBytes(live.buffered ?? 0)}, ${live.inFlight ?? 0} requests in flight, ` +
        `oldest undelivered line ${(live.oldestAge ?? 0).toFixed(1)} s`,
    );
  }
  if (rows.length === 0) out.push('no files in the checkpoint yet');
  const width = Math.max(4, ...rows.map((r) => r.path.length));
  for (const r of rows) {
    const liveLag = live?.lagByFile.get(r.path);
    const size = r.size ?? r.delivered;
    const delivered = liveLag !== undefined ? Math.max(r.delivered, size - liveLag) : r.delivered;
    const lag = Math.max(0, size - delivered);
    out.push(
      `${r.path.padEnd(width)}  ${progressBar(delivered, size)}  ${formatBytes(delivered)} / ${r.size === null ? 'gone' : formatBytes(size)}` +
        `  lag ${formatBytes(lag)}  last delivery ${ago(r.lastDelivery, now)}` +
        (live?.rateLimited.has(r.path) ? '  rate-limited' : '') +
        (live?.droppedByFile.get(r.path) ? `  dropped ${live.droppedByFile.get(r.path)}` : ''),
    );
  }
  return `${out.join('\n')}\n`;
}

export async function statusRows(stateDir: string): Promise<StatusRow[]> {
  const store = new CheckpointStore(stateDir, createLogger('silent'));
  await store.load({ readOnly: true });
  const rows: StatusRow[] = [];
  for (const e of store.all()) {
    const st = await stat(e.path, { bigint: true }).catch(() => null);
    const same = st !== null && fileKey(st.dev, st.ino) === e.key;
    rows.push({
      path: e.path,
      delivered: e.offset,
      size: same ? Number(st.size) : null,
      lastDelivery: e.updatedAt,
    });
  }
  return rows.sort((a, b) => a.path.localeCompare(b.path));
}

/**
 * Where `status` reaches the agent's server bound at LOGFERRY_HTTP_HOST: a wildcard address is reached
 * through the loopback, any other address as it is.
 */
export function statusHost(host: string | undefined): string {
  const h = (host ?? '').trim().replace(/^\[(.*)\]$/, '$1');
  if (h === '' || h === '0.0.0.0' || h === '::') return '127.0.0.1';
  return h.includes(':') ? `[${h}]` : h;
}

export async function runStatus(env: Record<string, string | undefined>): Promise<number> {
  const stateDir = env.LOGFERRY_STATE_DIR || '/var/lib/logferry';
  const port = Number(env.LOGFERRY_HTTP_PORT || 9780);
  let rows: StatusRow[];
  try {
    rows = await statusRows(stateDir);
  } catch (err) {
    process.stderr.write(`logferry status: ${(err as Error).message}\n`);
    return 1;
  }
  let live: LiveMetrics | null = null;
  let agent: AgentStatus | null = null;
  if (port > 0) {
    try {
      const host = statusHost(env.LOGFERRY_HTTP_HOST);
      const res = await fetch(`http://${host}:${port}/metrics`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) live = parseMetrics(await res.text());
      const st = await fetch(`http://${host}:${port}/status`, { signal: AbortSignal.timeout(2000) });
      if (st.ok) agent = (await st.json()) as AgentStatus;
    } catch {
      // Not reachable: the checkpoint and the files on disk are all there is.
    }
  }
  let text = renderStatus(rows, live);
  if (agent !== null) text = renderAgentStatus(agent) + text;
  else {
    const bytes = await deadLetterBytes(stateDir);
    if (bytes > 0)
      text += `dead letters: ${bytes} bytes in ${stateDir} (\`logferry replay\` sends them again)\n`;
  }
  process.stdout.write(text);
  return 0;
}
