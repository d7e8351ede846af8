// Numbered lines written like a logger, and the checks that every one of them reached the collector:
// shared by the crash and rotation tests.
import assert from 'node:assert/strict';
import { type FileHandle, mkdir, open, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { type Agent, startAgent, tempDir } from './agent.js';
import { type Collector, type ReceivedRecord, startCollector } from './collector.js';
import { FAST_ENV } from './fast-env.js';
import { waitFor } from './wait-for.js';

/** One line (without its newline): `<tag> seq=<8 digits> <padding>`; every line of a tag has the same length. */
export function lineOf(tag: string, seq: number): string {
  return `${tag} seq=${String(seq).padStart(8, '0')} ${'x'.repeat(48)}`;
}

/** Appends numbered lines through one open descriptor (O_APPEND), like a logger. Writers may share a counter. */
export class Writer {
  private constructor(
    private fh: FileHandle,
    readonly tag: string,
    private readonly counter: { n: number },
  ) {}

  static async open(path: string, tag: string, counter = { n: 0 }): Promise<Writer> {
    return new Writer(await open(path, 'a'), tag, counter);
  }

  /** Lines written so far (by every writer sharing the counter). */
  get seq(): number {
    return this.counter.n;
  }

  /** Append `n` complete lines in one write. */
  async write(n: number): Promise<void> {
    let text = '';
    for (let i = 0; i < n; i++) text += `${lineOf(this.tag, this.counter.n++)}\n`;
    await this.raw(text);
  }

  async raw(text: string): Promise<void> {
    const buf = Buffer.from(text);
    const { bytesWritten } = await this.fh.write(buf);
    assert.equal(bytesWritten, buf.length, 'short write');
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

export interface Tally {
  /** Sequence numbers in [0, total) never received. */
  missing: number[];
  /** Records received beyond the first for each sequence number. */
  duplicates: number;
  /** Sequence numbers received with different ids or offsets. */
  unstable: number[];
  /** Records carrying the tag whose message is not one of the written lines. */
  malformed: string[];
  /** Records per sequence number. */
  bySeq: Map<number, ReceivedRecord[]>;
}

export function tally(records: ReceivedRecord[], tag: string, total: number): Tally {
  const bySeq = new Map<number, ReceivedRecord[]>();
  const malformed: string[] = [];
  const prefix = `${tag} seq=`;
  for (const r of records) {
    if (!r.message.startsWith(prefix)) continue;
    const seq = Number(r.message.slice(prefix.length, prefix.length + 8));
    if (!Number.isInteger(seq) || seq < 0 || seq >= total || r.message !== lineOf(tag, seq)) {
      malformed.push(r.message);
      continue;
    }
    const list = bySeq.get(seq);
    if (list) list.push(r);
    else bySeq.set(seq, [r]);
  }
  const missing: number[] = [];
  const unstable: number[] = [];
  let duplicates = 0;
  for (let s = 0; s < total; s++) {
    const list = bySeq.get(s);
    if (!list) {
      missing.push(s);
      continue;
    }
    duplicates += list.length - 1;
    if (list.some((r) => r.id !== list[0]!.id || r.offset !== list[0]!.offset)) unstable.push(s);
  }
  return { missing, duplicates, unstable, malformed, bySeq };
}

/** Wait until every sequence number in [0, total) of `tag` arrived; on timeout, say what is missing. */
export async function waitAll(
  c: Collector,
  tag: string,
  total: number,
  agent: Agent,
  timeoutMs = 20_000,
): Promise<Tally> {
  try {
    await waitFor(() => tally(c.records, tag, total).missing.length === 0, {
      timeoutMs,
      intervalMs: 50,
      what: `all ${total} "${tag}" lines`,
    });
  } catch {
    const r = tally(c.records, tag, total);
    assert.fail(
      `${r.missing.length} of ${total} "${tag}" lines never arrived (first: ${r.missing.slice(0, 10).join(', ')}); ` +
        `agent exit ${agent.exitCode}\nagent log tail:\n${agent.stdout.slice(-3000)}${agent.stderr.slice(-2000)}`,
    );
  }
  return tally(c.records, tag, total);
}

/**
 * A collector, a temp dir with `logs/` (watched as `logs/*.log`) and `state/`, and `run(extra)` to start an
 * agent on them with FAST_ENV. Every agent is SIGKILLed when the test ends.
 */
export async function setupLogAgent(t: { after(fn: () => Promise<void>): void }, prefix: string) {
  // After-hooks run in the order they were added: agents are killed before their directories are removed.
  const agents: Agent[] = [];
  t.after(async () => {
    for (const a of agents) {
      a.kill('SIGKILL');
      await a.exited;
    }
  });
  const collector = await startCollector();
  t.after(() => collector.close());
  const dir = await tempDir(t, prefix);
  const logs = join(dir, 'logs');
  const state = join(dir, 'state');
  await mkdir(logs);
  const run = (extra: Record<string, string> = {}): Agent => {
    const a = startAgent({
      LOGFERRY_PATHS: join(logs, '*.log'),
      LOGFERRY_ENDPOINT: collector.url,
      LOGFERRY_STATE_DIR: state,
      ...FAST_ENV,
      ...extra,
    });
    agents.push(a);
    return a;
  };
  return { logs, state, collector, run };
}

/** The files the agent holds open (targets of /proc/<pid>/fd links; deleted ones end in " (deleted)"). */
export async function openFiles(agent: Agent): Promise<string[]> {
  const dir = `/proc/${agent.proc.pid}/fd`;
  const out: string[] = [];
  for (const n of await readdir(dir).catch(() => [] as string[])) {
    const target = await readlink(join(dir, n)).catch(() => null);
    if (target !== null) out.push(target);
  }
  return out;
}
