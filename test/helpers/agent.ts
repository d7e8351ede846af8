// Runs the built agent (dist/main.js) as a real child process, configured only by environment variables.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REGEX_GUARD_FLAGS } from '../../src/parse/safe-regex.js';
import { waitFor } from './wait-for.js';

export const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

export interface Agent {
  proc: ChildProcess;
  stdout: string;
  stderr: string;
  exitCode: number | null;
  exited: Promise<number | null>;
  /** Parsed JSON log lines. */
  logs(): Record<string, unknown>[];
  kill(signal?: NodeJS.Signals): void;
}

/** Agents not yet exited. */
const live = new Set<Agent>();

/** Started like the image starts it (REGEX_GUARD_FLAGS on node's command line) unless `regexGuard` is false. */
export function startAgent(env: Record<string, string>, opts: { regexGuard?: boolean } = {}): Agent {
  const nodeArgs = opts.regexGuard === false ? [] : REGEX_GUARD_FLAGS;
  const proc = spawn(process.execPath, [...nodeArgs, MAIN], {
    env: { PATH: process.env.PATH ?? '', LOGFERRY_HTTP_PORT: '0', LOGFERRY_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const a: Agent = {
    proc,
    stdout: '',
    stderr: '',
    exitCode: null,
    exited: new Promise((resolve) => proc.on('exit', (code, sig) => resolve(code ?? (sig ? 128 : null)))),
    logs: () =>
      a.stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    kill: (signal = 'SIGKILL') => {
      if (a.exitCode === null) proc.kill(signal);
    },
  };
  proc.stdout!.on('data', (d: Buffer) => {
    a.stdout += d.toString();
  });
  proc.stderr!.on('data', (d: Buffer) => {
    a.stderr += d.toString();
  });
  live.add(a);
  void a.exited.then((c) => {
    a.exitCode = c;
    live.delete(a);
  });
  return a;
}

/** Wait until the agent logged that it started (it follows the files that existed). */
export async function agentStarted(a: Agent, timeoutMs = 15_000): Promise<void> {
  await waitFor(() => a.stdout.includes('logferry started') || a.exitCode !== null, {
    timeoutMs,
    what: 'agent start',
  });
  if (a.exitCode !== null) throw new Error(`agent exited ${a.exitCode}: ${a.stderr}${a.stdout}`);
}

export async function tempDir(
  t: { after(fn: () => Promise<void>): void },
  prefix = 'logferry-',
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(async () => {
    // An agent still running would keep writing checkpoints into the directory (ENOTEMPTY), and a hook
    // that throws skips the hooks after it, leaving the agent alive and the test file hanging: stop them
    // first, whatever order the test registered its hooks in. Tests in one file run one after another.
    await Promise.all(
      [...live].map((a) => {
        a.kill('SIGKILL');
        return a.exited;
      }),
    );
    await rm(dir, { recursive: true, force: true, maxRetries: 5 }).catch(() => {});
  });
  return dir;
}
