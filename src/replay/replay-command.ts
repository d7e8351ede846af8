// `logferry replay`: send the dead-lettered records again; remove what the collector accepts, keep what it refuses.
//
// Safe while the agent runs, without a lock between them: the agent only appends to `dead-letter.ndjson`
// and checks, after each fsync'd append, that the name still points at the file it wrote (else it writes
// the records again to the new file). Replay takes a snapshot by renaming that file to
// `dead-letter.replaying-<ms>-<pid>.ndjson` and works on snapshots only; the agent's bound counts them.
// What stays refused is written to a temp file (O_EXCL|O_NOFOLLOW) renamed over the snapshot; a snapshot
// left by an interrupted replay is picked up by the next one (its accepted records are sent again:
// duplicates possible, never a loss). Two replays at once are kept apart by `replay.lock` (O_EXCL).
import { randomBytes } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { type FileHandle, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { type Config, checkConfigFiles, loadConfig, redactUrl } from '../config/config.js';
import { ConfigError } from '../errors.js';
import { VERSION } from '../pipeline.js';
import { Credentials, tlsConnectOptions } from '../send/auth.js';
import { type Answer, ackQueryOf, type CollectorTarget, postBody } from '../send/collector-request.js';
import { DEAD_LETTER_FILE } from '../send/dead-letter.js';
import { HttpPool, poolOptions } from '../send/http-pool.js';
import { backoff, decide, type RetryOptions } from '../send/retry-policy.js';
import { awaitAck } from '../send/splunk-ack.js';
import { createSink } from '../sinks/create.js';
import { NdjsonSink } from '../sinks/ndjson.js';
import type { LogRecord, Sink, SinkVerdict } from '../sinks/sink.js';
import { createLogger } from '../telemetry/logger.js';

const SNAPSHOT_PREFIX = 'dead-letter.replaying-';
const LOCK_FILE = 'replay.lock';
/** A request that keeps failing for a passing reason (network, 5xx) is tried this often before replay gives up. */
const ATTEMPTS = 6;
/** Records per request at most (the agent's batch bounds apply too). */
const MAX_RECORDS = 500;

/** One dead-letter line: the record as the agent wrote it, and the line itself (kept as it is when refused). */
interface Entry {
  line: string;
  record: Record<string, unknown>;
}

interface Outcome {
  accepted: number;
  kept: Entry[];
  /** Why replay stopped sending (the collector holds or is unavailable), or null. */
  stopped: string | null;
}

/** A dead-letter record (the contract's NDJSON object) as a protocol-neutral record for the sinks. */
function logRecordOf(o: Record<string, unknown>): LogRecord {
  const r: LogRecord = {
    message: String(o.message ?? ''),
    file: String(o.file ?? ''),
    offset: Number(o.offset ?? 0),
    id: String(o.id ?? ''),
    timestamp: String(o.timestamp ?? new Date().toISOString()),
    cut: o.cut === true,
  };
  if (o.labels && typeof o.labels === 'object') r.labels = o.labels as Record<string, string>;
  if (typeof o.level === 'string') r.level = o.level;
  if (o.fields && typeof o.fields === 'object') r.fields = o.fields as Record<string, unknown>;
  if (typeof o.stream === 'string') r.stream = o.stream;
  if (o.parse_error === true) r.parseError = true;
  return r;
}

class Replayer {
  private readonly pool: HttpPool;
  private readonly target: CollectorTarget;
  private readonly sink: Sink;
  private readonly creds: Credentials;
  private readonly retry: RetryOptions;
  private readonly abort = new AbortController();

  constructor(private readonly cfg: Config) {
    const log = createLogger('silent');
    this.sink = createSink(cfg, VERSION, { ...cfg.podLabels, ...cfg.labels });
    this.creds = new Credentials(cfg, log);
    this.retry = {
      initialMs: cfg.retryInitialMs,
      maxMs: cfg.retryMaxMs,
      retryAfterMaxMs: cfg.retryAfterMaxMs,
    };
    this.pool = new HttpPool(
      cfg.endpoint.origin,
      poolOptions(
        1,
        cfg.requestTimeoutMs,
        cfg.endpoint.protocol === 'https:' ? tlsConnectOptions(cfg, log) : undefined,
      ),
    );
    this.target = {
      pool: this.pool,
      sink: this.sink,
      requestTimeoutMs: cfg.requestTimeoutMs,
      userAgent: `logferry/${VERSION} replay`,
      credentials: this.creds,
    };
  }

  close(): Promise<void> {
    this.abort.abort();
    return this.pool.destroy().catch(() => {});
  }

  private body(entries: Entry[]): Buffer {
    // A dead-letter record is a line of the ndjson format: sent as it is to an ndjson collector.
    const plain =
      this.sink instanceof NdjsonSink
        ? Buffer.from(entries.map((e) => `${JSON.stringify(e.record)}\n`).join(''), 'utf8')
        : this.sink.encode(entries.map((e) => logRecordOf(e.record)));
    return this.cfg.compression === 'gzip' ? gzipSync(plain) : plain;
  }

  /** Send these entries (split down to single records when the collector refuses some). */
  async send(entries: Entry[]): Promise<Outcome> {
    let credsRefreshed = false;
    for (let attempt = 0; ; attempt++) {
      await this.creds.refresh();
      // The agent waits for a secret file to be fixed; a command stops and says why.
      const bad = this.creds.held();
      if (bad !== null) return { accepted: 0, kept: entries, stopped: bad.message };
      const res = await postBody(
        this.target,
        this.body(entries),
        this.cfg.compression === 'gzip',
        this.abort.signal,
      );
      const status = 'status' in res.outcome ? res.outcome.status : 0;
      let verdict: SinkVerdict = decide(res.outcome, res.retryAfter, attempt, entries.length, this.retry);
      if (this.sink.judge && status > 0 && verdict.kind !== 'ok')
        verdict = this.sink.judge(status, res.reason ?? '', verdict);
      const what = status > 0 ? `HTTP ${status}${res.reason ? `: ${res.reason}` : ''}` : (res.reason ?? '');
      switch (verdict.kind) {
        case 'ok':
          return this.accepted(entries, res, attempt);
        case 'dropped':
          // Which entries the collector dropped is not said: keep them all (sent again next time; no loss).
          return { accepted: 0, kept: entries, stopped: null };
        case 'hold':
          if (!credsRefreshed && (status === 401 || status === 403)) {
            credsRefreshed = true;
            if (await this.creds.refresh(true)) continue;
          }
          return { accepted: 0, kept: entries, stopped: `the collector refuses the requests (${what})` };
        case 'retry':
          if (attempt + 1 >= ATTEMPTS)
            return { accepted: 0, kept: entries, stopped: `the collector is unavailable (${what})` };
          await delay(verdict.afterMs);
          continue;
        case 'split':
        case 'isolate': {
          if (entries.length === 1) return { accepted: 0, kept: entries, stopped: null };
          const half = Math.floor(entries.length / 2);
          const a = await this.send(entries.slice(0, half));
          if (a.stopped !== null) return { ...a, kept: [...a.kept, ...entries.slice(half)] };
          const b = await this.send(entries.slice(half));
          return { accepted: a.accepted + b.accepted, kept: [...a.kept, ...b.kept], stopped: b.stopped };
        }
      }
    }
  }

  private async accepted(entries: Entry[], res: Answer, attempt: number): Promise<Outcome> {
    const sink = this.sink;
    if (!sink.accepted || res.body === undefined)
      return { accepted: entries.length, kept: [], stopped: null };
    const acc = sink.accepted(res.body, res.contentType, entries.length, res.truncated === true);
    switch (acc.kind) {
      case 'all':
        return { accepted: entries.length, kept: [], stopped: null };
      case 'dropped':
        return { accepted: 0, kept: entries, stopped: null };
      case 'ack': {
        const acked = await awaitAck(
          sink.ack!,
          acc.ackId,
          ackQueryOf(this.target, this.abort.signal),
          this.abort.signal,
        );
        if (acked === 'acked') return { accepted: entries.length, kept: [], stopped: null };
        return { accepted: 0, kept: entries, stopped: 'no indexer acknowledgement in time' };
      }
      case 'items': {
        const kept = acc.reject.map((r) => entries[r.index]!).filter(Boolean);
        const again = acc.retry.map((i) => entries[i]!).filter(Boolean);
        const accepted = entries.length - kept.length - again.length;
        if (again.length === 0) return { accepted, kept, stopped: null };
        if (attempt + 1 >= ATTEMPTS)
          return { accepted, kept: [...kept, ...again], stopped: 'records not stored after retries' };
        await delay(backoff(attempt, this.retry));
        const more = await this.send(again);
        return { accepted: accepted + more.accepted, kept: [...kept, ...more.kept], stopped: more.stopped };
      }
    }
  }
}

/** Take `replay.lock`, or say who holds it. A lock whose process is gone is taken over. */
async function lock(dir: string): Promise<(() => Promise<void>) | string> {
  const file = join(dir, LOCK_FILE);
  for (let i = 0; i < 2; i++) {
    try {
      const fh = await open(
        file,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
        0o600,
      );
      await fh.writeFile(String(process.pid));
      await fh.close();
      return () => unlink(file).catch(() => {});
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim());
      if (pid > 0 && alive(pid)) return `another replay is running (pid ${pid}, ${file})`;
      await unlink(file).catch(() => {});
    }
  }
  return `cannot take ${file}`;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The snapshots to work on: earlier ones left by an interrupted replay, an old `.1`, then the agent's file. */
async function snapshots(dir: string): Promise<string[]> {
  const stamp = `${Date.now()}-${process.pid}`;
  const names = await readdir(dir);
  let n = 0;
  for (const from of [`${DEAD_LETTER_FILE}.1`, DEAD_LETTER_FILE]) {
    if (!names.includes(from)) continue;
    await rename(join(dir, from), join(dir, `${SNAPSHOT_PREFIX}${stamp}-${n++}.ndjson`));
  }
  // Temp files of a replay that did not finish hold nothing the snapshots do not.
  for (const name of names)
    if (name.startsWith('dead-letter.tmp-')) await unlink(join(dir, name)).catch(() => {});
  return (await readdir(dir))
    .filter((f) => f.startsWith(SNAPSHOT_PREFIX) && f.endsWith('.ndjson'))
    .sort()
    .map((f) => join(dir, f));
}

async function* lines(file: string): AsyncGenerator<string> {
  const rl = createInterface({
    input: createReadStream(file, { encoding: 'utf8' }),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  for await (const line of rl) if (line.trim() !== '') yield line;
}

async function countLines(file: string): Promise<number> {
  let n = 0;
  for await (const _ of lines(file)) n++;
  return n;
}

interface Progress {
  total: number;
  sent: number;
  kept: number;
}

function report(p: Progress, final = false): void {
  process.stderr.write(
    `logferry replay: ${p.sent + p.kept}/${p.total} records: ${p.sent} accepted and removed, ${p.kept} kept${final ? '\n' : '\r'}`,
  );
}

/** Replay one snapshot; what stays is renamed over it (or it is removed). */
async function replayFile(r: Replayer, file: string, cfg: Config, p: Progress, stop: { why: string | null }) {
  const dir = join(file, '..');
  const tmp = join(dir, `dead-letter.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const out: FileHandle = await open(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  );
  let keptHere = 0;
  const keep = async (e: Entry[]) => {
    if (e.length === 0) return;
    keptHere += e.length;
    await out.writeFile(e.map((x) => `${x.line}\n`).join(''));
  };
  try {
    let chunk: Entry[] = [];
    let bytes = 0;
    const flush = async () => {
      if (chunk.length === 0) return;
      const batch = chunk;
      chunk = [];
      bytes = 0;
      if (stop.why !== null) {
        await keep(batch);
        p.kept += batch.length;
        return;
      }
      const o = await r.send(batch);
      await keep(o.kept);
      p.sent += o.accepted;
      p.kept += o.kept.length;
      if (o.stopped !== null) stop.why = o.stopped;
      report(p);
    };
    for await (const line of lines(file)) {
      let record: Record<string, unknown> | null = null;
      try {
        const o = JSON.parse(line) as { record?: unknown };
        if (o.record && typeof o.record === 'object') record = o.record as Record<string, unknown>;
      } catch {
        record = null;
      }
      if (record === null) {
        // Not a dead-letter line: kept as it is, never dropped.
        await keep([{ line, record: {} }]);
        p.kept++;
        continue;
      }
      chunk.push({ line, record });
      bytes += line.length;
      if (chunk.length >= Math.min(MAX_RECORDS, cfg.batchMaxRecords) || bytes >= cfg.batchMaxBytes)
        await flush();
    }
    await flush();
    await out.sync();
  } finally {
    await out.close();
  }
  if (keptHere === 0) {
    await unlink(file);
    await unlink(tmp);
  } else {
    await rename(tmp, file);
  }
  const dh = await open(dir, 'r').catch(() => null);
  await dh?.sync().catch(() => {});
  await dh?.close();
  return keptHere;
}

export async function runReplay(env: Record<string, string | undefined>): Promise<number> {
  let cfg: Config;
  try {
    cfg = loadConfig(env);
    checkConfigFiles(cfg);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`logferry replay: invalid configuration (${err.code})\n${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const dir = cfg.stateDir;
  const unlock = await lock(dir).catch((err: Error) => `cannot take the replay lock: ${err.message}`);
  if (typeof unlock === 'string') {
    process.stderr.write(`logferry replay: ${unlock}\n`);
    return 1;
  }
  const r = new Replayer(cfg);
  try {
    const files = await snapshots(dir);
    const p: Progress = { total: 0, sent: 0, kept: 0 };
    for (const f of files) p.total += await countLines(f);
    process.stderr.write(
      `logferry replay: ${p.total} dead-lettered records in ${files.length} file(s), to ${redactUrl(cfg.endpoint.href)} (${cfg.sink})\n`,
    );
    const stop = { why: null as string | null };
    let left = 0;
    for (const f of files) left += await replayFile(r, f, cfg, p, stop);
    report(p, true);
    if (stop.why !== null) process.stderr.write(`logferry replay: stopped sending: ${stop.why}\n`);
    if (left > 0) {
      process.stderr.write(
        `logferry replay: ${left} records remain in ${dir} (${SNAPSHOT_PREFIX}*.ndjson)\n`,
      );
      return 1;
    }
    process.stderr.write('logferry replay: nothing left\n');
    return 0;
  } catch (err) {
    process.stderr.write(`logferry replay: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await r.close();
    await unlock();
  }
}
