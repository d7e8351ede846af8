// A test rig for integration tests that run one agent (or several in turn) against a collector: a temp dir
// with `logs/` (watched as `logs/*.log`) and `state/`, a collector, and `start(env)` to spawn an agent with
// FAST_ENV. Every agent is SIGKILLed when the test ends, before the collector and the directory go.
import { mkdir } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { type Agent, agentStarted, startAgent, tempDir } from './agent.js';
import { type Collector, startCollector } from './collector.js';
import { FAST_ENV } from './fast-env.js';

export interface Rig {
  /** The collector (LOGFERRY_ENDPOINT unless `start`'s env says otherwise). */
  c: Collector;
  /** The temp dir holding `logs/` and `state/`. */
  dir: string;
  logDir: string;
  /** `logs/app.log` (not created). */
  logFile: string;
  /** `state/` (not created: the agent makes it). */
  stateDir: string;
  /** The agent's health port with `withHealthPort`, else 0 (health server off). */
  port: number;
  /** The environment `start(extra)` gives the agent. */
  env(extra?: Record<string, string>): Record<string, string>;
  /** Spawn an agent and wait until it started. */
  start(extra?: Record<string, string>): Promise<Agent>;
}

export interface RigOptions {
  /** The temp dir's name prefix. */
  prefix: string;
  /** Pick a free port for the agent's health server (LOGFERRY_HTTP_PORT=0 turns it off). */
  withHealthPort?: boolean;
  /** Added to every agent's environment (after FAST_ENV, before `start`'s own). */
  env?: Record<string, string>;
  /** Closed when the test ends, after the agents are killed (e.g. other fake servers). */
  closers?: (() => Promise<void>)[];
}

/** A free TCP port for the agent's health server. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

export async function rig(
  t: { after(fn: () => Promise<void>): void },
  { prefix, withHealthPort = false, env = {}, closers = [] }: RigOptions,
): Promise<Rig> {
  const agents: Agent[] = [];
  let collector: Collector | null = null;
  // Registered before tempDir's hook (after-hooks run in the order added): agents are gone before their
  // directory is removed, and before the servers they talk to close.
  t.after(async () => {
    for (const a of agents) {
      a.kill('SIGKILL');
      await a.exited;
    }
    await collector?.close();
    for (const close of closers) await close();
  });
  const dir = await tempDir(t, prefix);
  const logDir = join(dir, 'logs');
  const stateDir = join(dir, 'state');
  await mkdir(logDir);
  collector = await startCollector();
  const c = collector;
  const port = withHealthPort ? await freePort() : 0;
  const envFor = (extra: Record<string, string> = {}): Record<string, string> => ({
    LOGFERRY_PATHS: join(logDir, '*.log'),
    LOGFERRY_ENDPOINT: c.url,
    LOGFERRY_STATE_DIR: stateDir,
    ...FAST_ENV,
    ...(withHealthPort ? { LOGFERRY_HTTP_PORT: String(port) } : {}),
    ...env,
    ...extra,
  });
  return {
    c,
    dir,
    logDir,
    logFile: join(logDir, 'app.log'),
    stateDir,
    port,
    env: envFor,
    start: async (extra = {}) => {
      const a = startAgent(envFor(extra));
      agents.push(a);
      await agentStarted(a);
      return a;
    },
  };
}
