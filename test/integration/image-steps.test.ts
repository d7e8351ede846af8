// The Dockerfile, step by step, without a Docker engine: parse it, perform the build stage's COPY and RUN
// lines in a temp tree (npm offline, from the cache CI's own `npm ci` filled), COPY --from=build into the
// final stage's app dir, then start its ENTRYPOINT with its ENV as its USER, against a real collector on
// 127.0.0.1. The app dir stays owned by root and read-only to that user, like a read-only root file system.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { appendFile, chmod, chown, cp, lstat, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, posix, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import picomatch from 'picomatch';
import { REGEX_GUARD_FLAGS } from '../../src/parse/safe-regex.js';
import { tempDir } from '../helpers/agent.js';
import { startCollector } from '../helpers/collector.js';
import { waitFor } from '../helpers/wait-for.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

interface Instruction {
  op: string;
  args: string;
  line: number;
}
interface Stage {
  image: string;
  name?: string;
  instructions: Instruction[];
}

/** Dockerfile → stages of instructions (continuations joined, comments and blank lines dropped). */
function parseDockerfile(text: string): Stage[] {
  const logical: { text: string; line: number }[] = [];
  let buf = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const l = raw.replace(/\s+$/, '');
    if (/^\s*#/.test(l) || (!buf && l.trim() === '')) return; // comments also inside a continuation
    if (!buf) start = i + 1;
    if (l.endsWith('\\')) {
      buf += `${l.slice(0, -1)} `;
      return;
    }
    logical.push({ text: (buf + l).trim(), line: start });
    buf = '';
  });
  assert.equal(buf, '', 'Dockerfile ends inside a line continuation');
  const stages: Stage[] = [];
  for (const { text: t, line } of logical) {
    const m = /^(\w+)\s+([\s\S]*)$/.exec(t);
    assert.ok(m, `Dockerfile line ${line}: cannot parse "${t}"`);
    const op = m[1]!.toUpperCase();
    const args = m[2]!.trim();
    if (op === 'FROM') {
      const f = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      assert.ok(f, `Dockerfile line ${line}: FROM ${args}`);
      stages.push({ image: f[1]!, name: f[2], instructions: [] });
      continue;
    }
    assert.ok(stages.length > 0, `Dockerfile line ${line}: ${op} before FROM`);
    stages.at(-1)!.instructions.push({ op, args, line });
  }
  return stages;
}

/** Shell-like words: whitespace-separated, quotes group and are removed. */
function words(s: string): string[] {
  return (s.match(/(?:[^\s"']+|"[^"]*"|'[^']*')+/g) ?? []).map((w) =>
    w.replace(/"([^"]*)"|'([^']*)'/g, '$1$2'),
  );
}

/** The JSON (exec) form of RUN/ENTRYPOINT/CMD/VOLUME, or undefined for the shell form. */
function execForm(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  const v = JSON.parse(args) as unknown;
  assert.ok(Array.isArray(v) && v.every((x) => typeof x === 'string'), `not a JSON string array: ${args}`);
  return v;
}

function parseEnv(args: string): Record<string, string> {
  const w = words(args);
  if (w.length > 0 && !w[0]!.includes('='))
    return { [w[0]!]: args.slice(args.indexOf(w[0]!) + w[0]!.length).trim() };
  return Object.fromEntries(
    w.map((kv) => {
      const i = kv.indexOf('=');
      assert.ok(i > 0, `ENV ${args}: "${kv}" is not key=value`);
      return [kv.slice(0, i), kv.slice(i + 1)];
    }),
  );
}

/** Absolute paths a shell command mentions. */
function absolutePaths(cmd: string): string[] {
  return [...cmd.matchAll(/(?<![\w.:/-])\/[\w.@/-]*/g)].map((m) => m[0].replace(/\/+$/, '') || '/');
}

/** .dockerignore → does this context-relative path (or a directory above it) get excluded? */
function dockerignore(context: string): (rel: string) => boolean {
  const file = join(context, '.dockerignore');
  const patterns = existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('#'))
    : [];
  assert.ok(
    !patterns.some((p) => p.startsWith('!')),
    'exceptions (!) in .dockerignore are not reproduced here',
  );
  const isMatch = picomatch(
    patterns.map((p) => p.replace(/^\/+|\/+$/g, '')),
    { dot: true },
  );
  return (rel) => {
    const parts = rel.split('/').filter(Boolean);
    return parts.some((_, i) => isMatch(parts.slice(0, i + 1).join('/')));
  };
}

interface Fs {
  root: string;
  workdir: string;
  env: Record<string, string>;
}

/** A path of the stage's file system, inside its temp root. */
const inStage = (s: Fs, p: string) => join(s.root, posix.resolve(s.workdir, p));

/** Docker COPY: a directory source copies its contents; symlinks stay as they are; modes are kept. */
async function copy(src: string, dest: string, destIsDir: boolean, filter?: (p: string) => boolean) {
  const st = await stat(src);
  const target = st.isDirectory() || !destIsDir ? dest : join(dest, basename(src));
  await mkdir(st.isDirectory() ? target : dirname(target), { recursive: true });
  if (filter) {
    await cp(src, target, { recursive: true, verbatimSymlinks: true, filter });
    return;
  }
  // Between stages (node_modules): the native copy is much faster than fs.cp.
  const r = await run('cp', ['-a', st.isDirectory() ? `${src}/.` : src, target], {
    cwd: '/',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
  });
  assert.equal(r.code, 0, `cp -a ${src} ${target}: ${r.out}`);
}

async function run(cmd: string, args: string[], opts: { cwd: string; env: Record<string, string> }) {
  const started = Date.now();
  const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'], timeout: 150_000 });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c, sig) => resolve(c ?? (sig ? 128 : null)));
  });
  return { code, out, ms: Date.now() - started };
}

/** Every path under dir (relative) with size and mtime: a fingerprint that any write would change. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const rel of (await readdir(dir, { recursive: true })).sort()) {
    const st = await lstat(join(dir, rel));
    out.set(rel, `${st.mode}:${st.uid}:${st.size}:${st.mtimeMs}`);
  }
  return out;
}

test('the Dockerfile steps build a production-only app dir that runs as a non-root user', {
  timeout: 180_000,
}, async (t) => {
  const cleanups: (() => unknown)[] = [];
  t.after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });
  const t0 = Date.now();
  const phase = (what: string) => t.diagnostic(`${what} at ${Date.now() - t0} ms`);
  const stages = parseDockerfile(readFileSync(join(REPO, 'Dockerfile'), 'utf8'));
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
    devDependencies?: Record<string, string>;
  };
  const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean; optional?: boolean }>;
  };

  // Base images: both stages on the same node:<even major >= 24>-slim.
  assert.equal(stages.length, 2, 'a build stage and a final stage');
  const [build, final] = stages as [Stage, Stage];
  assert.equal(build.name, 'build');
  assert.equal(final.image, build.image, 'both stages use the same base image');
  const base = /^node:(\d+)(?:\.\d+)*-slim(?:@sha256:[0-9a-f]{64})?$/.exec(build.image);
  assert.ok(base, `base image ${build.image} is node:<major>-slim`);
  const major = Number(base[1]);
  assert.ok(major >= 24 && major % 2 === 0, `node ${major} is an LTS line (even, >= 24)`);
  t.diagnostic(`image base ${build.image}; the steps run here with node ${process.version}`);

  const root = await tempDir(t, 'logferry-image-');
  await chmod(root, 0o755); // mkdtemp makes 0700; the image's user must reach the dirs below
  const context = REPO;
  const ignored = dockerignore(context);
  const fsOf = new Map<string, Fs>();
  const runEnv = (s: Fs): Record<string, string> => ({
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    ...(process.env.npm_config_cache ? { npm_config_cache: process.env.npm_config_cache } : {}),
    ...s.env,
    // No network in tests: npm ci installs from the cache that CI's own `npm ci` just filled.
    npm_config_offline: 'true',
    npm_config_update_notifier: 'false',
  });

  let user: { uid: number; gid: number } | undefined;
  let entrypoint: string[] | undefined;
  const volumes: string[] = [];
  const skipped: Instruction[] = [];
  for (const [i, stage] of stages.entries()) {
    const s: Fs = { root: join(root, `stage-${i}`), workdir: '/', env: {} };
    await mkdir(s.root, { recursive: true });
    if (stage.name) fsOf.set(stage.name, s);
    fsOf.set(String(i), s);
    const isFinal = stage === final;
    for (const ins of stage.instructions) {
      const where = `Dockerfile line ${ins.line}: ${ins.op} ${ins.args}`;
      const insStarted = Date.now();
      switch (ins.op) {
        case 'WORKDIR':
          s.workdir = posix.resolve(s.workdir, ins.args);
          await mkdir(inStage(s, '.'), { recursive: true });
          break;
        case 'ENV':
          Object.assign(s.env, parseEnv(ins.args));
          break;
        case 'COPY': {
          const w = execForm(ins.args) ?? words(ins.args);
          const flags = w.filter((x) => x.startsWith('--'));
          const paths = w.filter((x) => !x.startsWith('--'));
          const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
          assert.deepEqual(
            flags.filter((f) => !f.startsWith('--from=')),
            [],
            `${where}: flags not reproduced here`,
          );
          assert.ok(paths.length >= 2, where);
          const dest = paths.pop()!;
          const destIsDir = dest.endsWith('/') || paths.length > 1;
          for (const src of paths) {
            if (from !== undefined) {
              const other = fsOf.get(from);
              assert.ok(other && other !== s, `${where}: no earlier stage ${from}`);
              await copy(join(other.root, posix.resolve('/', src)), inStage(s, dest), destIsDir);
            } else {
              const rel = posix.normalize(src).replace(/^(\.\/)+|\/+$/g, '');
              assert.ok(
                !ignored(rel) && existsSync(join(context, rel)),
                `${where}: ${src} is not in the context`,
              );
              await copy(
                join(context, rel),
                inStage(s, dest),
                destIsDir,
                (p) => !ignored(relative(context, p)),
              );
            }
          }
          break;
        }
        case 'RUN': {
          const argv = execForm(ins.args);
          const cmd = argv ? argv.join(' ') : ins.args;
          const abs = absolutePaths(cmd);
          if (abs.length > 0) {
            // System paths cannot be touched here: only the final stage may, and only for the state dir.
            assert.ok(isFinal, `${where}: the build stage touches ${abs.join(', ')}`);
            assert.ok(s.env.LOGFERRY_STATE_DIR, `${where}: LOGFERRY_STATE_DIR must be set before`);
            assert.deepEqual(
              new Set(abs),
              new Set([s.env.LOGFERRY_STATE_DIR]),
              `${where}: only the state dir`,
            );
            skipped.push(ins);
            break;
          }
          // Docker runs RUN with umask 022 (files readable by the image's user).
          const r = argv
            ? await run(argv[0]!, argv.slice(1), { cwd: inStage(s, '.'), env: runEnv(s) })
            : await run('/bin/sh', ['-c', `umask 022; ${ins.args}`], {
                cwd: inStage(s, '.'),
                env: runEnv(s),
              });
          t.diagnostic(`${ins.op} ${ins.args}: exit ${r.code} in ${r.ms} ms`);
          assert.equal(
            r.code,
            0,
            `${where} failed (npm runs offline here: run \`npm ci\` once so the npm cache holds every package)\n${r.out.slice(-4000)}`,
          );
          break;
        }
        case 'USER': {
          assert.ok(isFinal, `${where}: USER belongs to the final stage`);
          // Numeric, so Kubernetes' runAsNonRoot can verify it without reading the image's /etc/passwd.
          const u = /^(\d+)(?::(\d+))?$/.exec(ins.args);
          assert.ok(u, `${where}: USER must be numeric uid[:gid]`);
          user = { uid: Number(u[1]), gid: Number(u[2] ?? u[1]) };
          assert.notEqual(user.uid, 0, 'USER is not root');
          assert.notEqual(user.gid, 0, 'USER group is not root');
          break;
        }
        case 'VOLUME':
          volumes.push(...(execForm(ins.args) ?? words(ins.args)));
          break;
        case 'ENTRYPOINT':
          entrypoint = execForm(ins.args);
          assert.ok(entrypoint, `${where}: exec form, so node is PID 1 and receives SIGTERM`);
          break;
        case 'EXPOSE':
        case 'LABEL':
        case 'ARG':
          break;
        default:
          assert.fail(`${where}: instruction not reproduced by this test`);
      }
      if (Date.now() - insStarted > 500) t.diagnostic(`${where}: ${Date.now() - insStarted} ms`);
    }
  }

  phase('stages done');
  const app = fsOf.get('1')!;
  const appDir = inStage(app, '.');
  assert.ok(user, 'the final stage sets USER');
  assert.ok(entrypoint, 'the final stage sets ENTRYPOINT');
  assert.deepEqual(
    entrypoint,
    ['node', ...REGEX_GUARD_FLAGS, 'dist/main.js'],
    'ENTRYPOINT runs dist/main.js with node and the options that guard user regexes (REGEX_GUARD_FLAGS)',
  );
  assert.ok(existsSync(join(appDir, 'dist/main.js')), 'dist/main.js is in the app dir');
  assert.ok(skipped.length > 0 && volumes.includes(app.env.LOGFERRY_STATE_DIR!), 'the state dir is a VOLUME');

  // Production dependencies only: every package the lockfile marks dev-only is absent; a devDependency may be
  // present only when a production dependency needs it too (the lockfile then does not mark it dev).
  for (const dep of Object.keys(pkg.dependencies ?? {})) {
    assert.ok(existsSync(join(appDir, 'node_modules', dep, 'package.json')), `production dependency ${dep}`);
  }
  const devPresent = Object.entries(lock.packages)
    .filter(([key, p]) => key.startsWith('node_modules/') && p.dev && existsSync(join(appDir, key)))
    .map(([key]) => key);
  assert.deepEqual(devPresent, [], 'no dev-only package in the app dir');
  const devDeps = Object.keys(pkg.devDependencies ?? {});
  const devInApp = devDeps.filter((d) => existsSync(join(appDir, 'node_modules', d)));
  for (const d of devInApp)
    assert.ok(!lock.packages[`node_modules/${d}`]?.dev, `${d} is needed in production`);
  t.diagnostic(`devDependencies also needed in production: ${devInApp.join(', ') || 'none'}`);

  // Collector, log dir and state dir (the volumes) for the agent.
  const collector = await startCollector();
  cleanups.push(() => collector.close());
  const logs = join(root, 'logs');
  const state = join(root, 'state');
  await mkdir(logs, { mode: 0o755 });
  await mkdir(state, { mode: 0o755 });
  const logFile = join(root, 'logs', 'app.log');
  await writeFile(logFile, '', { mode: 0o644 });
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    await chown(state, user.uid, user.gid); // as a volume mounted for that user (fsGroup / the image's chown)
    // The app dir is root's and not writable by the user, like a read-only root file system.
    for (const rel of await readdir(appDir, { recursive: true })) {
      const st = await lstat(join(appDir, rel));
      const writable = !st.isSymbolicLink() && (st.mode & 0o002) !== 0;
      assert.ok(st.uid === 0 && !writable, `${rel} is root-owned and not world-writable`);
    }
    const st = await stat(appDir);
    assert.ok(st.uid === 0 && (st.mode & 0o022) === 0, 'app dir owned by root, mode go-w');
  } else {
    t.diagnostic('not root: the agent runs as the current user instead of the image USER');
  }
  const before = await snapshot(appDir);
  phase('app dir checked');

  const [cmd, ...args] = entrypoint;
  const env = {
    PATH: `${dirname(process.execPath)}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    ...app.env,
    LOGFERRY_PATHS: `${logs}/*.log`,
    LOGFERRY_ENDPOINT: collector.url,
    LOGFERRY_STATE_DIR: state,
    LOGFERRY_HTTP_PORT: '0',
    LOGFERRY_FLUSH_INTERVAL_MS: '50',
    LOGFERRY_CHECKPOINT_INTERVAL_MS: '100',
    LOGFERRY_RETRY_INITIAL_MS: '20',
    LOGFERRY_RETRY_MAX_MS: '200',
    // A user regex: started by the ENTRYPOINT, the agent has the fallback and so does not warn.
    LOGFERRY_DROP: '^never (shipped)+$',
  };
  const agent: ChildProcess = spawn(cmd!, args, {
    cwd: appDir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(asRoot ? { uid: user.uid, gid: user.gid } : {}),
  });
  let out = '';
  agent.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  agent.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    agent.on('exit', (code, sig) => {
      exitCode = code ?? (sig ? 128 : null);
      resolve(exitCode);
    }),
  );
  cleanups.push(async () => {
    if (exitCode === undefined) agent.kill('SIGKILL');
    await exited;
  });

  await waitFor(() => out.includes('logferry started') || exitCode !== undefined, { what: 'agent start' });
  assert.equal(exitCode, undefined, `the agent exited early:\n${out}`);
  phase('agent started');
  const line = `hello from the image steps ${process.pid}-${Date.now()}`;
  await appendFile(logFile, `${line}\n`);
  await waitFor(() => collector.records.some((r) => r.message === line), {
    what: `the line at the collector (agent output:\n${out})`,
  });
  assert.ok(!out.includes('LOGFERRY_REGEX_UNGUARDED'), `the ENTRYPOINT guards user regexes:\n${out}`);
  const rec = collector.records.find((r) => r.message === line)!;
  assert.equal(rec.file, logFile);
  assert.equal(rec.offset, 0);

  phase('line delivered');
  agent.kill('SIGTERM');
  await waitFor(() => exitCode !== undefined, { what: 'exit after SIGTERM' });
  assert.equal(exitCode, 0, `SIGTERM exits 0:\n${out}`);
  phase('exited');

  const checkpoints = join(state, 'checkpoints.json');
  assert.ok(existsSync(checkpoints), 'checkpoints persisted in the state dir');
  if (asRoot) assert.equal((await stat(checkpoints)).uid, user.uid, 'written as the image user');
  assert.deepEqual(await snapshot(appDir), before, 'nothing written in the app dir');
});
