// The trust boundary's pieces: roots from the patterns, the policy, and the checked open against swapped
// symlinks, FIFOs and kernel files (real files in a temp dir).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, open, rename, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { rootsOf, trustRoots } from '../../src/discover/roots.js';
import { isUnder, TrustPolicy } from '../../src/discover/trust.js';
import {
  openChecked,
  reopenChecked,
  sizeIsHonest,
  verify as verifyFull,
} from '../../src/tail/checked-open.js';
import { tempDir } from '../helpers/agent.js';

test('roots: the fixed directory prefix of each pattern, then the allowed roots', () => {
  assert.deepEqual(
    rootsOf(['/var/log/app/**/*.log', '/var/log/app/*.json', '/srv/x/{a,b}/*.log', '/opt/one.log']),
    [
      { dir: '/var/log/app', depth: undefined },
      { dir: '/srv/x', depth: 1 },
      { dir: '/opt', depth: 0 },
    ],
  );
  assert.deepEqual(trustRoots(['/var/log/containers/*.log'], ['/var/log/pods/']), [
    '/var/log/containers',
    '/var/log/pods',
  ]);
});

test('policy: inside a root or not, and never /proc, /sys, /dev whatever the roots say', () => {
  const p = new TrustPolicy(['/var/log/app', '/proc', '/']);
  assert.equal(p.judge('/var/log/app/x.log'), null);
  assert.equal(p.judge('/etc/shadow'), null, '/ as a root admits everything but the kernel file systems');
  for (const real of ['/proc/self/environ', '/proc', '/sys/kernel/x', '/dev/null'])
    assert.equal(p.judge(real), 'special-filesystem', real);
  const q = new TrustPolicy(['/var/log/app']);
  assert.equal(q.judge('/var/log/application.log'), 'symlink-outside-roots', 'a prefix is not a parent');
  assert.equal(q.judge('/var/log/app'), null);
  assert.ok(isUnder('/a/b', '/a') && !isUnder('/ab', '/a') && isUnder('/x', '/'));
});

/** A watched root holding a.log, a directory beside it holding a secret, and the policy of that root. */
async function rootAndOutside(t: Parameters<typeof tempDir>[0], prefix: string) {
  const dir = await tempDir(t, prefix);
  const root = join(dir, 'logs');
  const out = join(dir, 'outside');
  await mkdir(root, { recursive: true });
  await mkdir(out, { recursive: true });
  await writeFile(join(root, 'a.log'), 'a\n');
  await writeFile(join(out, 'secret'), 'secret\n');
  return { root, out, policy: new TrustPolicy([root]) };
}

test('openChecked: a file inside is opened; a symlink out, a FIFO and a /proc file are refused without blocking', async (t) => {
  const { root, out, policy } = await rootAndOutside(t, 'logferry-open-');
  await symlink(join(out, 'secret'), join(root, 'out.log'));
  await symlink(join(root, 'a.log'), join(root, 'in.log'));
  await symlink('/proc/self/environ', join(root, 'env.log'));
  execFileSync('mkfifo', [join(root, 'x.log')]);

  const ok = await openChecked(join(root, 'in.log'), policy);
  assert.ok(!('refused' in ok));
  assert.equal(ok.realPath, join(root, 'a.log'));
  assert.equal(ok.st.ino, (await stat(join(root, 'a.log'), { bigint: true })).ino);
  await ok.fh.close();
  const refused = async (p: string) => {
    const r = await openChecked(p, policy);
    if (!('refused' in r)) await r.fh.close();
    return 'refused' in r ? r.refused : null;
  };
  assert.equal(await refused(join(root, 'out.log')), 'symlink-outside-roots');
  assert.equal(await refused(join(root, 'env.log')), 'special-filesystem');
  assert.equal(await refused(join(root, 'x.log')), 'not-regular');
  assert.equal(await refused(join(root, 'missing.log')), 'changed-during-open');
});

/** verify's refusal, or null when it passes. */
async function verify(...args: Parameters<typeof verifyFull>) {
  const v = await verifyFull(...args);
  return 'refused' in v ? v.refused : null;
}

test('verify: a descriptor that is not the file checked (swapped between check and open) is refused', async (t) => {
  const { root, out, policy } = await rootAndOutside(t, 'logferry-swap-');
  // The check saw a.log; then a.log was replaced by a symlink to the secret, which the open followed.
  const checked = await stat(join(root, 'a.log'), { bigint: true });
  await rename(join(root, 'a.log'), join(root, 'a.log.1'));
  await symlink(join(out, 'secret'), join(root, 'a.log'));
  const swapped = await open(join(root, 'a.log'), 'r');
  t.after(() => swapped.close());
  assert.equal(await verify(swapped, checked, policy), 'changed-during-open');
  // Even when the stat itself was led outside (a directory swapped for a symlink between realpath and stat),
  // the kernel's path of the descriptor gives it away.
  const ledOut = await stat(join(out, 'secret'), { bigint: true });
  assert.equal(await verify(swapped, ledOut, policy), 'symlink-outside-roots');
  // A FIFO opened without blocking is not a regular file.
  execFileSync('mkfifo', [join(root, 'f.log')]);
  const fifo = await open(join(root, 'f.log'), 'r+');
  t.after(() => fifo.close());
  assert.equal(await verify(fifo, await stat(join(root, 'f.log'), { bigint: true }), policy), 'not-regular');
  // The honest case.
  const real = await open(join(root, 'a.log.1'), 'r');
  t.after(() => real.close());
  assert.equal(await verify(real, checked, policy), null);
  // A reopen by dev:ino refuses whatever the path leads to now.
  const key = { dev: String(checked.dev), ino: String(checked.ino) };
  assert.equal(await reopenChecked(join(root, 'a.log'), key, policy), null);
  const again = await reopenChecked(join(root, 'a.log.1'), key, policy);
  assert.ok(again !== null);
  await again.close();
});

test('sizeIsHonest: /proc/self/environ reads past its size 0; a truncated regular file does not', async (t) => {
  const env = await open('/proc/self/environ', 'r');
  t.after(() => env.close());
  assert.equal(Number((await env.stat()).size), 0);
  assert.equal(await sizeIsHonest(env, 0), false);
  const dir = await tempDir(t, 'logferry-size-');
  const f = join(dir, 'a.log');
  await writeFile(f, 'one\ntwo\n');
  const fh = await open(f, 'r+');
  t.after(() => fh.close());
  await fh.truncate(0);
  assert.equal(await sizeIsHonest(fh, 0), true);
  // Written to between the stat and the probe: it grew, it is honest.
  await fh.write('three\n', 0);
  assert.equal(await sizeIsHonest(fh, 0), true);
});
