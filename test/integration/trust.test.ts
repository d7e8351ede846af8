// The trust boundary against a real agent: symlinks out of the roots, /proc files, FIFOs and symlinked
// directories are refused (logged, counted) and their content never reaches the collector.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { type Agent, startAgent } from '../helpers/agent.js';
import { rig } from '../helpers/rig.js';
import { waitFor } from '../helpers/wait-for.js';

/** A value only the secret files (and the agent's environment) hold: it must never be in a record. */
const SECRET = 'S3CRET-do-not-ship-4711';

/** Quick rescans, so a path the watcher missed is looked at again many times during a test. */
const QUICK = { LOGFERRY_RESCAN_INTERVAL_MS: '100' };

function refusals(a: Agent): Map<string, string> {
  const out = new Map<string, string>();
  for (const l of a.logs())
    if (l.code === 'LOGFERRY_FILE_REFUSED') out.set(l.path as string, l.reason as string);
  return out;
}

async function metric(port: number, reason: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = new RegExp(`^logferry_files_refused_total\\{reason="${reason}"\\} (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

test('a symlink out of the roots, /proc/self/environ and a FIFO are refused; a symlink inside is read', async (t) => {
  const r = await rig(t, { prefix: 'logferry-trust-', withHealthPort: true, env: QUICK });
  const outside = join(r.dir, 'outside');
  const inside = join(r.logDir, 'data'); // below the root, not matched by logs/*.log itself
  await mkdir(outside);
  await mkdir(inside);
  await writeFile(join(outside, 'secret.txt'), `${SECRET} early\n`);
  await writeFile(join(inside, 'real.txt'), 'inside-1\n');
  // Planted before the start (found by the first walk) ...
  await symlink(join(outside, 'secret.txt'), join(r.logDir, 'early.log'));
  await symlink('/proc/self/environ', join(r.logDir, 'env.log'));
  await symlink(join(inside, 'real.txt'), join(r.logDir, 'in.log'));
  const a = await r.start({ MARKER: SECRET });
  // ... and after it (found by the watcher).
  await symlink(join(outside, 'secret.txt'), join(r.logDir, 'late.log'));
  execFileSync('mkfifo', [join(r.logDir, 'x.log')]);
  await symlink(join(r.logDir, 'x.log'), join(r.logDir, 'to-fifo.log'));
  await appendFile(join(outside, 'secret.txt'), `${SECRET} later\n`);
  await appendFile(join(inside, 'real.txt'), 'inside-2\n');
  await appendFile(r.logFile, 'plain-1\n');

  await waitFor(
    () => {
      const got = refusals(a);
      return ['early.log', 'late.log', 'env.log', 'x.log', 'to-fifo.log'].every((n) =>
        got.has(join(r.logDir, n)),
      );
    },
    { what: 'every planted path refused' },
  );
  const got = refusals(a);
  assert.equal(got.get(join(r.logDir, 'early.log')), 'symlink-outside-roots');
  assert.equal(got.get(join(r.logDir, 'late.log')), 'symlink-outside-roots');
  assert.equal(got.get(join(r.logDir, 'env.log')), 'special-filesystem');
  assert.equal(got.get(join(r.logDir, 'x.log')), 'not-regular');
  assert.equal(got.get(join(r.logDir, 'to-fifo.log')), 'not-regular');
  await waitFor(
    () => ['inside-1', 'inside-2', 'plain-1'].every((m) => r.c.records.some((x) => x.message === m)),
    { what: 'the lines of the files inside the roots' },
  );
  assert.ok(
    r.c.records.some((x) => x.file === join(r.logDir, 'in.log')),
    'read under its symlink name',
  );
  // Many rescans later (each one looks at every refused path again), still nothing from them.
  const rescansFrom = Date.now();
  await appendFile(r.logFile, 'plain-2\n');
  await waitFor(() => Date.now() - rescansFrom > 1000 && r.c.records.some((x) => x.message === 'plain-2'), {
    what: 'a later line after a dozen rescans',
  });
  const leaked = r.c.records.filter(
    (x) => JSON.stringify(x).includes(SECRET) || x.message.includes('LOGFERRY_'),
  );
  assert.deepEqual(leaked, [], 'nothing from outside the roots reaches the collector');
  // Logged once per path, however often the path was looked at again.
  for (const n of ['early.log', 'env.log', 'x.log']) {
    const lines = a.logs().filter((l) => l.code === 'LOGFERRY_FILE_REFUSED' && l.path === join(r.logDir, n));
    assert.equal(lines.length, 1, `${n} refused once in the log`);
  }
  assert.ok(a.exitCode === null, 'the FIFO did not stop the agent');
  assert.equal(await metric(r.port, 'symlink-outside-roots'), 2);
  assert.equal(await metric(r.port, 'special-filesystem'), 1);
  assert.equal(await metric(r.port, 'not-regular'), 2);
});

test('a symlinked directory leaving the roots is not descended; LOGFERRY_ALLOWED_ROOTS admits a link into it', async (t) => {
  const r = await rig(t, { prefix: 'logferry-trust-dir-', env: QUICK });
  const outside = join(r.dir, 'outside');
  const pods = join(r.dir, 'pods');
  await mkdir(join(outside, 'deep'), { recursive: true });
  await mkdir(join(pods, 'ns_pod_uid', 'app'), { recursive: true });
  await writeFile(join(outside, 'a.log'), `${SECRET} a\n`);
  await writeFile(join(outside, 'deep', 'b.log'), `${SECRET} b\n`);
  await writeFile(join(pods, 'ns_pod_uid', 'app', '0.log'), 'pod-1\n');
  await mkdir(join(r.logDir, 'sub'));
  await symlink(outside, join(r.logDir, 'early-dir'));
  const a = await r.start({
    LOGFERRY_PATHS: `${r.logDir}/**/*.log`,
    LOGFERRY_ALLOWED_ROOTS: pods,
  });
  await symlink(outside, join(r.logDir, 'sub', 'late-dir'));
  await symlink(join(pods, 'ns_pod_uid', 'app', '0.log'), join(r.logDir, 'pod.log'));
  await appendFile(join(pods, 'ns_pod_uid', 'app', '0.log'), 'pod-2\n');
  await appendFile(join(outside, 'a.log'), `${SECRET} a2\n`);
  await appendFile(join(r.logDir, 'sub', 'plain.log'), 'plain-1\n');
  await waitFor(() => refusals(a).has(join(r.logDir, 'sub', 'late-dir')), {
    what: 'the symlinked directory created later refused',
  });
  await waitFor(() => ['pod-1', 'pod-2', 'plain-1'].every((m) => r.c.records.some((x) => x.message === m)), {
    what: 'the allowed root and the plain file',
  });
  assert.ok(r.c.records.some((x) => x.file === join(r.logDir, 'pod.log')));
  const rescansFrom = Date.now();
  await appendFile(join(r.logDir, 'sub', 'plain.log'), 'plain-2\n');
  await waitFor(() => Date.now() - rescansFrom > 1000 && r.c.records.some((x) => x.message === 'plain-2'), {
    what: 'a later line after a dozen rescans',
  });
  const leaked = r.c.records.filter((x) => x.message.includes(SECRET));
  assert.deepEqual(leaked, [], 'nothing below the symlinked directory reaches the collector');
  assert.ok(
    !a.stdout.includes(join(r.logDir, 'sub', 'late-dir', 'a.log')),
    'the watcher did not even report files below it',
  );
});

test('a watched root that is a symlink is refused with a hint, and read once its target is allowed', async (t) => {
  const r = await rig(t, { prefix: 'logferry-trust-root-', env: QUICK });
  const real = join(r.dir, 'real');
  await mkdir(real);
  await symlink(real, join(r.dir, 'linked'));
  await writeFile(join(real, 'a.log'), 'via-link\n');
  const env = { LOGFERRY_PATHS: join(r.dir, 'linked', '*.log') };
  const a = await r.start(env);
  await waitFor(() => a.logs().some((l) => l.code === 'LOGFERRY_ROOT_REFUSED'), { what: 'the hint' });
  a.kill('SIGTERM');
  await waitFor(() => a.exitCode !== null, { what: 'the first agent to stop' });
  assert.equal(r.c.records.length, 0, 'nothing read below a root that leads elsewhere');
  await r.start({ ...env, LOGFERRY_ALLOWED_ROOTS: real });
  await waitFor(() => r.c.records.some((x) => x.message === 'via-link'), { what: 'the line once allowed' });
});

test('LOGFERRY_ALLOWED_ROOTS must hold absolute directories: exit 2 naming the variable', async (t) => {
  const r = await rig(t, { prefix: 'logferry-trust-cfg-' });
  const a = startAgent(r.env({ LOGFERRY_ALLOWED_ROOTS: '/var/log/pods,var/log/other' }));
  await waitFor(() => a.exitCode !== null, { what: 'the agent to exit' });
  assert.equal(a.exitCode, 2);
  assert.match(a.stderr, /LOGFERRY_ALLOWED_ROOTS: every entry must be an absolute directory/);
});
