// Runs one generated action sequence against the real agent, real files and the switchable collector, keeps
// the model of what was written, and returns every invariant the run broke (empty when it held).
import { randomBytes } from 'node:crypto';
import {
  appendFile,
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  realpath,
  rename,
  rm,
  stat,
  symlink,
  truncate,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Agent, agentStarted, startAgent } from '../helpers/agent.js';
import { FAST_ENV } from '../helpers/fast-env.js';
import { waitFor } from '../helpers/wait-for.js';
import type { Action, RunSettings } from './actions.js';
import { type CollectorMode, type SwitchCollector, startSwitchCollector } from './switch-collector.js';

const POISON = 'POISON-RECORD-7f3a';
/** How long the agent may take to deliver a file while it runs and the collector accepts. */
const CATCH_UP_MS = 15_000;
const FINAL_MS = 30_000;
/** A line there before the very first start with START_AT=end: skipped on purpose, a checkpoint may pass it. */
const SKIPPED = 'before the first start (START_AT=end)';

interface Line {
  text: string;
  gen: Gen;
  offset: number;
  end: number;
  poison: boolean;
  /** Why this line may legitimately never arrive (null: it must). */
  mayLose: string | null;
}

/** One content generation of an inode: from its creation or a truncation, lines at known offsets. */
interface Gen {
  key: string;
  path: string;
  lines: Line[];
  size: number;
  /** Reachable under a watched `*.log` path (not rotated away, deleted or truncated). */
  visible: boolean;
  partial: { text: string; written: number } | null;
}

interface DeadLetters {
  messages: Set<string>;
  records: { message: string; id: string }[];
}

export interface RunResult {
  violations: string[];
  trace: string[];
  /** Lines written, lines required, records acknowledged, agent starts. */
  stats: { written: number; required: number; acked: number; starts: number };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** waitFor, answering whether the condition came true in time instead of throwing. */
const until = (cond: () => Promise<boolean> | boolean, ms: number, every = 50): Promise<boolean> =>
  waitFor(cond, { timeoutMs: ms, intervalMs: every }).then(
    () => true,
    () => false,
  );

/**
 * `checkIdSalt` (pending: 'id-salt'): also fail when two contents of one inode share ids, or a line of a
 * later content is re-sent with another id.
 */
export async function runModel(
  settings: RunSettings,
  actions: Action[],
  checkIdSalt = true,
): Promise<RunResult> {
  const tag = randomBytes(3).toString('hex');
  const secret = `TOPSECRET-${randomBytes(6).toString('hex')}`;
  const canary = `CANARY-${randomBytes(6).toString('hex')}`;
  // The real path: the agent compares files' real paths with its roots, and the temp dir may be a symlink.
  const dir = await realpath(await mkdtemp(join(tmpdir(), 'logferry-model-')));
  const logDir = join(dir, 'logs');
  const stateDir = join(dir, 'state');
  const secretDir = join(dir, 'outside');
  const secretFile = join(secretDir, 'secret.txt');
  const decoy = join(logDir, 'decoy.txt');
  await mkdir(logDir);
  await mkdir(secretDir);
  await writeFile(secretFile, `${secret} line 0\n`);
  await writeFile(decoy, '');

  const collector: SwitchCollector = await startSwitchCollector(POISON, [secret, canary]);
  const violations: string[] = [];
  const trace: string[] = [];
  const gens: Gen[] = [];
  const byText = new Map<string, Line>();
  /**
   * The model's line a record holds: its whole text, or a first part of it (an unterminated line the agent
   * shipped as it was at a truncation, a rotation or shutdown), found by the line's marker.
   */
  const lineOf = (message: string): Line | undefined => {
    const whole = byText.get(message);
    if (whole) return whole;
    const marker = /^M[0-9a-f]+-\d+ /.exec(message)?.[0];
    if (!marker) return undefined;
    const l = byMarker.get(marker);
    return l?.text.startsWith(message) ? l : undefined;
  };
  const byMarker = new Map<string, Line>();
  let agent: Agent | null = null;
  let downFor = 0;
  let seq = 0;
  let fileNo = 0;
  let rotNo = 0;
  let linkNo = 0;
  let swapLink: string | null = null;
  let starts = 0;
  const reportedCheckpoints = new Set<string>();

  const env = (): Record<string, string> => ({
    LOGFERRY_PATHS: join(logDir, '*.log'),
    LOGFERRY_ENDPOINT: collector.url,
    LOGFERRY_STATE_DIR: stateDir,
    ...FAST_ENV,
    LOGFERRY_SHUTDOWN_TIMEOUT_MS: '1000',
    LOGFERRY_START_AT: settings.startAt,
    LOGFERRY_COMPRESSION: settings.compression,
    LOGFERRY_BATCH_MAX_RECORDS: String(settings.batchMaxRecords),
    LOGFERRY_MAX_IN_FLIGHT: String(settings.maxInFlight),
    LOGFERRY_IDLE_CLOSE_MS: String(settings.idleCloseMs),
    // Read through /proc/self/environ, this must never reach the collector.
    MODEL_CANARY: canary,
  });

  const visible = () => gens.filter((g) => g.visible);
  const pick = (f: number): Gen | undefined => {
    const v = visible();
    return v.length === 0 ? undefined : v[f % v.length];
  };
  const keyOf = async (path: string): Promise<string> => {
    const st = await stat(path);
    return `${st.dev}:${st.ino}`;
  };
  const newText = (pad: number, poison = false): string =>
    `M${tag}-${seq++} ${poison ? POISON : `p${'x'.repeat(pad)}`}`;

  const readDeadLetters = async (): Promise<DeadLetters> => {
    const out: DeadLetters = { messages: new Set(), records: [] };
    const names = await readdir(stateDir).catch(() => [] as string[]);
    for (const n of names.filter((x) => x.startsWith('dead-letter'))) {
      const text = await readFile(join(stateDir, n), 'utf8').catch(() => '');
      for (const l of text.split('\n')) {
        if (!l) continue;
        try {
          const r = (JSON.parse(l) as { record?: { message?: unknown; id?: unknown } }).record;
          if (r) {
            out.messages.add(String(r.message));
            out.records.push({ message: String(r.message), id: String(r.id) });
          }
        } catch {
          // A line cut by a crash mid-write: not a record.
        }
      }
    }
    return out;
  };
  const isDone = (l: Line, dl: DeadLetters) => collector.ackedMessages.has(l.text) || dl.messages.has(l.text);
  const mustLines = (only?: Gen) =>
    (only ? only.lines : gens.flatMap((g) => g.lines)).filter((l) => l.mayLose === null);

  /** Every line that must arrive did (or was dead-lettered), for one generation or all. */
  const caughtUp = async (only?: Gen): Promise<boolean> => {
    const dl = await readDeadLetters();
    return mustLines(only).every((l) => isDone(l, dl));
  };
  const deliverable = () => agent !== null && collector.mode === 'accept';

  /** A checkpoint never passes a line that was not acknowledged (2xx) or dead-lettered. */
  const checkCheckpoints = async (when: string): Promise<void> => {
    let doc: { files?: { key: string; path: string; offset: number }[] };
    try {
      doc = JSON.parse(await readFile(join(stateDir, 'checkpoints.json'), 'utf8'));
    } catch {
      return;
    }
    const dl = await readDeadLetters();
    // An unterminated line shipped as it was (at a truncation) acknowledges the bytes it held.
    const firstPart = new Map<Line, number>();
    for (const r of collector.acked) {
      const l = lineOf(r.message);
      if (l && r.message !== l.text)
        firstPart.set(l, Math.max(firstPart.get(l) ?? 0, Buffer.byteLength(r.message)));
    }
    for (const e of doc.files ?? []) {
      if (e.offset === 0) continue;
      const candidates = gens.filter((g) => g.key === e.key);
      if (candidates.length === 0) continue; // not a file of the model (e.g. a symlink's target)
      // The inode may have had several generations (truncation, reuse): one of them must justify the offset.
      const ok = candidates.some((g) => {
        let acked = 0;
        for (const l of g.lines) {
          if (!isDone(l, dl) && l.mayLose !== SKIPPED) {
            acked = l.offset + (firstPart.get(l) ?? 0);
            break;
          }
          acked = l.end;
        }
        return e.offset <= acked;
      });
      if (!ok && !reportedCheckpoints.has(`${e.key}@${e.offset}`)) {
        reportedCheckpoints.add(`${e.key}@${e.offset}`);
        const g = candidates[candidates.length - 1]!;
        const first = g.lines.find((l) => l.offset < e.offset && !isDone(l, dl));
        violations.push(
          `checkpoint ${when}: ${e.path} (${e.key}) at offset ${e.offset} passes an unacknowledged line` +
            (first
              ? ` "${first.text.slice(0, 40)}" at ${first.offset}`
              : ` (the file holds ${g.size} bytes)`),
        );
      }
    }
  };

  const appendLine = async (g: Gen, text: string, poison: boolean): Promise<void> => {
    const line: Line = {
      text,
      gen: g,
      offset: g.size,
      end: g.size + Buffer.byteLength(text) + 1,
      poison,
      mayLose: null,
    };
    await appendFile(g.path, `${text}\n`);
    g.size = line.end;
    g.lines.push(line);
    byText.set(text, line);
    byMarker.set(`${text.slice(0, text.indexOf(' '))} `, line);
  };
  const completePartial = async (g: Gen): Promise<void> => {
    if (!g.partial) return;
    const { text, written } = g.partial;
    const rest = Buffer.from(text).subarray(written);
    const line: Line = {
      text,
      gen: g,
      offset: g.size - written,
      end: g.size - written + Buffer.byteLength(text) + 1,
      poison: false,
      mayLose: null,
    };
    await appendFile(g.path, Buffer.concat([rest, Buffer.from('\n')]));
    g.size = line.end;
    g.partial = null;
    g.lines.push(line);
    byText.set(text, line);
    byMarker.set(`${text.slice(0, text.indexOf(' '))} `, line);
  };
  const createFile = async (lines: number): Promise<Gen> => {
    const path = join(logDir, `f${fileNo++}.log`);
    await writeFile(path, '');
    const g: Gen = { key: await keyOf(path), path, lines: [], size: 0, visible: true, partial: null };
    gens.push(g);
    for (let i = 0; i < lines; i++) await appendLine(g, newText(i * 7), false);
    return g;
  };

  /**
   * Before a file's content is destroyed or taken away: any shipper may lose lines it has not read by then,
   * so the model waits for the agent to deliver them when it can; when it cannot, they may be lost.
   */
  const settle = async (g: Gen, what: string): Promise<void> => {
    await completePartial(g);
    if (deliverable()) {
      if (!(await until(() => caughtUp(g), CATCH_UP_MS)))
        violations.push(
          `${what}: the agent did not deliver ${g.path} within ${CATCH_UP_MS} ms while the collector accepted`,
        );
    }
    const dl = await readDeadLetters();
    for (const l of g.lines)
      if (l.mayLose === null && !isDone(l, dl)) l.mayLose = `${what} while undeliverable`;
  };

  /**
   * After truncating a file the agent read, give it a moment to notice before the next write: a truncation
   * not yet seen when the file grows past the old read offset is invisible to a size-based check, and the
   * lines before that offset are lost (see docs/testing.md). The wait is bounded and not itself an invariant.
   */
  const truncated = async (g: Gen, before: number): Promise<void> => {
    if (!agent || g.size === 0) return;
    const a = agent;
    await until(() => truncationNotices(a, g.path) > before, 2000);
  };
  const truncationNotices = (a: Agent | null, path: string): number =>
    a === null
      ? 0
      : a.stdout.split('\n').filter((l) => l.includes('file truncated') && l.includes(JSON.stringify(path)))
          .length;

  const startNow = async (): Promise<void> => {
    // START_AT=end holds at every start with no state at all (a first agent killed before its first
    // checkpoint leaves none): what the files hold then is skipped on purpose.
    const stateless = await stat(join(stateDir, 'checkpoints.json')).then(
      () => false,
      () => true,
    );
    if (settings.startAt === 'end' && stateless) {
      const dl = await readDeadLetters();
      for (const g of visible())
        for (const l of g.lines) if (l.mayLose === null && !isDone(l, dl)) l.mayLose = SKIPPED;
    }
    starts++;
    agent = startAgent(env());
    await agentStarted(agent, 20_000);
  };
  /** LOGFERRY_MODEL_DUMP=dir: each agent's output and the checkpoint file it left, under dir/<run tag>/. */
  const dumpAgent = async (a: Agent, how: string): Promise<void> => {
    if (!process.env.LOGFERRY_MODEL_DUMP) return;
    const to = join(process.env.LOGFERRY_MODEL_DUMP, tag);
    await mkdir(to, { recursive: true });
    const cp = await readFile(join(stateDir, 'checkpoints.json'), 'utf8').catch(() => '');
    await writeFile(join(to, `agent-${starts}-${how}.log`), `${a.stdout}${a.stderr}\n--- checkpoints\n${cp}`);
  };
  const stopNow = async (signal: 'SIGKILL' | 'SIGTERM', excuse = true): Promise<void> => {
    if (!agent) return;
    const a = agent;
    // In a pod the app has stopped before the sidecar's SIGTERM, and the agent ships an unterminated last
    // line as it is at shutdown: the model leaves no half line then (SIGKILL may land mid-line).
    if (signal === 'SIGTERM') for (const g of visible()) await completePartial(g);
    a.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      a.exited,
      new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), 15_000);
      }),
    ]);
    clearTimeout(timer);
    if (code === 'timeout') {
      violations.push(`${signal}: the agent did not exit within 15 s`);
      a.kill('SIGKILL');
      await a.exited;
    } else if (signal === 'SIGTERM' && code !== 0)
      violations.push(`SIGTERM: the agent exited ${code}, not 0`);
    agent = null;
    await dumpAgent(a, signal);
    await checkCheckpoints(`after ${signal}`);
    // Lines of a file no longer under a watched path and not yet delivered: a restarted agent may never see them.
    if (!excuse) return;
    const dl = await readDeadLetters();
    for (const g of gens)
      if (!g.visible)
        for (const l of g.lines)
          if (l.mayLose === null && !isDone(l, dl)) l.mayLose = `unread in ${g.path} at ${signal}`;
  };

  const apply = async (a: Action): Promise<void> => {
    /** Truncate g's file to 0 and wait until the agent saw it; its next lines are a new content. */
    const truncateNow = async (g: Gen) => {
      const before = truncationNotices(agent, g.path);
      await truncate(g.path, 0);
      await truncated(g, before);
      g.visible = false;
      gens.push({ key: g.key, path: g.path, lines: [], size: 0, visible: true, partial: null });
    };
    switch (a.t) {
      case 'append': {
        const g = pick(a.f) ?? (await createFile(0));
        await completePartial(g);
        for (let i = 0; i < a.n; i++) await appendLine(g, newText(a.pad + i), false);
        return;
      }
      case 'poison': {
        const g = pick(a.f) ?? (await createFile(0));
        await completePartial(g);
        await appendLine(g, newText(0), false);
        await appendLine(g, newText(0, true), true);
        await appendLine(g, newText(0), false);
        return;
      }
      case 'partial': {
        const g = pick(a.f) ?? (await createFile(0));
        await completePartial(g);
        const text = newText(a.pad);
        const written = Math.max(1, Math.floor(Buffer.byteLength(text) / 2));
        await appendFile(g.path, Buffer.from(text).subarray(0, written));
        g.size += written;
        g.partial = { text, written };
        return;
      }
      case 'create':
        await createFile(a.empty ? 0 : 2);
        return;
      case 'rotate': {
        const g = pick(a.f);
        if (!g) return;
        await completePartial(g);
        // The agent must have found the file (one line delivered) to be held to its remainder after the rename.
        if (deliverable()) {
          const seen = await until(async () => {
            const dl = await readDeadLetters();
            const must = mustLines(g);
            return must.length === 0 || must.some((l) => isDone(l, dl));
          }, CATCH_UP_MS);
          if (!seen)
            violations.push(`rotate: the agent delivered nothing of ${g.path} within ${CATCH_UP_MS} ms`);
        } else await settle(g, 'rotate');
        const to = `${g.path}.${++rotNo}`;
        const from = g.path;
        await rename(from, to);
        g.path = to;
        g.visible = false;
        await writeFile(from, '');
        gens.push({ key: await keyOf(from), path: from, lines: [], size: 0, visible: true, partial: null });
        return;
      }
      case 'copytruncate': {
        const g = pick(a.f);
        if (!g) return;
        await settle(g, 'copytruncate');
        // Copy then truncate with no write in between, as logrotate's copytruncate does.
        await copyFile(g.path, `${g.path}.${++rotNo}`);
        await truncateNow(g);
        return;
      }
      case 'truncate': {
        const g = pick(a.f);
        if (!g) return;
        await settle(g, 'truncate');
        await truncateNow(g);
        return;
      }
      case 'delete': {
        const g = pick(a.f);
        if (!g) return;
        await settle(g, 'delete');
        await unlink(g.path);
        g.visible = false;
        return;
      }
      case 'idle':
        // Time passing is the action (idle descriptors get closed, rotate waits expire); catching up first
        // when the agent can deliver is bounded and not itself an invariant.
        if (deliverable()) await until(() => caughtUp(), 3000);
        await sleep(a.ms);
        return;
      case 'kill':
        if (!agent) return;
        await stopNow(a.signal);
        downFor = a.downFor + 1;
        return;
      case 'collector':
        await collector.setMode(a.mode as CollectorMode);
        return;
      case 'http-401':
        await collector.setMode('http-401');
        return;
      case 'symlink-outside': {
        await appendFile(secretFile, `${secret} line ${linkNo}\n`);
        const target = a.target === 'secret' ? secretFile : '/proc/self/environ';
        await symlink(target, join(logDir, `link${linkNo++}.log`));
        return;
      }
      case 'symlink-swap': {
        await appendFile(decoy, `DECOY-${tag}-${linkNo}\n`);
        if (swapLink === null) {
          // Points inside the root first (a file the glob does not match), then is swapped to the secret.
          swapLink = join(logDir, `swap${linkNo++}.log`);
          await symlink('decoy.txt', swapLink);
        } else {
          await appendFile(secretFile, `${secret} swapped ${linkNo}\n`);
          const tmp = join(logDir, `.swap-${linkNo++}`);
          await symlink(secretFile, tmp);
          await rename(tmp, swapLink);
          swapLink = null;
        }
        return;
      }
    }
  };

  try {
    for (let i = 0; i < settings.initialFiles; i++) await createFile(2);
    await startNow();
    for (const [i, a] of actions.entries()) {
      const t0 = Date.now();
      // Traced before it runs (a harness error names the action), with its duration after.
      trace.push(`${i}: ${JSON.stringify(a)}${agent ? '' : ' (agent down)'} collector=${collector.mode}`);
      await apply(a);
      trace[trace.length - 1] += ` ${Date.now() - t0} ms`;
      if (agent === null && --downFor <= 0) {
        await startNow();
        trace.push(`   agent restarted`);
      }
      await checkCheckpoints(`after action ${i}`);
      if (agent !== null && (agent as Agent).exitCode !== null) {
        const dead = agent as Agent;
        violations.push(
          `the agent exited by itself (${dead.exitCode}): ${dead.stdout.slice(-1500)}${dead.stderr.slice(-1500)}`,
        );
        agent = null;
        downFor = 1;
      }
    }
    // The end: collector healthy, agent running, partial lines completed; then wait for every line.
    await collector.setMode('accept');
    for (const g of visible()) await completePartial(g);
    if (!agent) await startNow();
    const t0 = Date.now();
    await until(() => caughtUp(), FINAL_MS, 100);
    trace.push(`end: caught up in ${Date.now() - t0} ms`);
    await stopNow('SIGTERM', false);
    await check();
  } catch (err) {
    violations.push(`harness error: ${(err as Error).stack ?? err}`);
  } finally {
    if (agent) {
      (agent as Agent).kill('SIGKILL');
      await (agent as Agent).exited;
    }
    await collector.close();
    if (process.env.LOGFERRY_MODEL_DUMP) {
      const to = join(process.env.LOGFERRY_MODEL_DUMP, tag);
      await mkdir(to, { recursive: true });
      const sent = collector.seen.map((r) => JSON.stringify(r)).join('\n');
      await writeFile(join(to, 'run.txt'), [...violations, ...trace, '--- sent', sent].join('\n'));
    }
    await rm(dir, { recursive: true, force: true, maxRetries: 5 }).catch(() => {});
  }
  const stats = {
    written: byText.size,
    required: mustLines().length,
    acked: collector.acked.length,
    starts,
  };
  return { violations, trace, stats };

  async function check(): Promise<void> {
    const dl = await readDeadLetters();
    if (collector.leaks.length > 0)
      violations.push(
        `content from outside the roots was sent ${collector.leaks.length} time(s): ${collector.leaks[0]!.slice(0, 300)}`,
      );
    const missing = mustLines().filter(
      (l) => !(l.poison ? dl.messages.has(l.text) : collector.ackedMessages.has(l.text)),
    );
    if (missing.length > 0)
      violations.push(
        `${missing.length} line(s) never delivered (poison: never dead-lettered): ` +
          missing
            .slice(0, 8)
            .map((l) => `"${l.text.slice(0, 24)}" ${l.gen.path}@${l.offset}${l.poison ? ' (poison)' : ''}`)
            .join(', '),
      );
    const wrongDl = [...dl.messages].filter((m) => !byText.get(m)?.poison);
    if (wrongDl.length > 0)
      violations.push(
        `${wrongDl.length} record(s) dead-lettered that were not refused by content: "${wrongDl[0]!.slice(0, 40)}"`,
      );
    // Ids: one id per line, never one id for two lines (dead-lettered copies included).
    const idsOf = new Map<string, Set<string>>();
    const textOf = new Map<string, string>();
    for (const r of [...collector.seen, ...dl.records]) {
      const ids = idsOf.get(r.message) ?? new Set<string>();
      ids.add(r.id);
      idsOf.set(r.message, ids);
      const other = textOf.get(r.id);
      if (other !== undefined && other !== r.message) {
        const [a, b] = [lineOf(other), lineOf(r.message)];
        // Two contents of one inode (truncated, or deleted and the inode reused) whose id keys match.
        const sameInode = a !== undefined && b !== undefined && a.gen !== b.gen && a.gen.key === b.gen.key;
        if (!sameInode || checkIdSalt)
          violations.push(
            `id ${r.id} carried two different lines: "${other.slice(0, 30)}" and "${r.message.slice(0, 30)}"` +
              (sameInode
                ? ` (two contents of inode ${a.gen.key})`
                : ` (${a ? `${a.gen.path} ${a.gen.key}@${a.offset}` : '?'}; ${b ? `${b.gen.path} ${b.gen.key}@${b.offset}` : '?'})`),
          );
      }
      textOf.set(r.id, r.message);
    }
    // The same text in two places (a symlink's target read twice) is two lines: only the model's are unique.
    for (const [m, ids] of idsOf) {
      const l = byText.get(m);
      if (ids.size <= 1 || l === undefined) continue;
      // A later content of an inode (after a truncation or reuse) whose ids change at a restart (pending: 'id-salt').
      const later = gens.findIndex((g) => g.key === l.gen.key) < gens.indexOf(l.gen);
      if (!later || checkIdSalt)
        violations.push(
          `line "${m.slice(0, 30)}" was sent with ${ids.size} different ids: ${[...ids].join(', ')}` +
            (later ? ` (a later content of inode ${l.gen.key})` : ''),
        );
    }
    for (const r of collector.seen) {
      const l = lineOf(r.message);
      if (l && r.offset !== l.offset)
        violations.push(
          `line "${r.message.slice(0, 30)}" sent with offset ${r.offset}, written at ${l.offset}`,
        );
    }
  }
}
