// Opens a log file only if it is a regular file inside the trust boundary, checked on the open descriptor itself.

import type { BigIntStats } from 'node:fs';
import { constants } from 'node:fs';
import { type FileHandle, open, readlink, realpath, stat, statfs } from 'node:fs/promises';
import type { RefusalReason, TrustPolicy } from '../discover/trust.js';

/**
 * O_NONBLOCK: a FIFO put where a file was cannot block the open (reads of regular files ignore the flag).
 * O_NOFOLLOW: the real path's last component may not have become a symlink since it was resolved.
 */
const FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW;

/** A checked path that changed before it was opened (a rotation, most often) is looked at this often. */
const ATTEMPTS = 3;

/**
 * statfs magic numbers of kernel file systems whose files report sizes unlike their content (procfs, sysfs,
 * debugfs, tracefs, securityfs, configfs, cgroup v1 and v2, bpf, efivarfs, pstore), wherever they are mounted.
 */
const SPECIAL_FS = new Set([
  0x9fa0, 0x62656572, 0x64626720, 0x74726163, 0x73636673, 0x62656570, 0x27e0eb, 0x63677270, 0xcafe4a11,
  0xde5e81e4, 0x6165676c,
]);

export type CheckedOpen =
  | { fh: FileHandle; st: BigIntStats; realPath: string }
  | { refused: RefusalReason; realPath?: string };

/** Where the kernel says descriptor `fd` leads, or null where there is no /proc to ask. */
async function descriptorPath(fd: number): Promise<string | null> {
  const p = await readlink(`/proc/self/fd/${fd}`).catch(() => null);
  if (p === null || !p.startsWith('/')) return null;
  return p.endsWith(' (deleted)') ? p.slice(0, -' (deleted)'.length) : p;
}

/**
 * Open `path` for reading when its real path lies inside the roots and it is a regular file. The check
 * (realpath, stat) and the open are separate system calls, so the descriptor is checked again: its dev and
 * ino must be the ones checked, and, where /proc is there, the kernel's own path for it must pass too (a
 * directory swapped for a symlink between the calls would otherwise lead the open elsewhere).
 */
export async function openChecked(path: string, policy: TrustPolicy): Promise<CheckedOpen> {
  let last: CheckedOpen = { refused: 'changed-during-open' };
  for (let i = 0; i < ATTEMPTS; i++) {
    last = await attempt(path, policy);
    if (!('refused' in last) || last.refused !== 'changed-during-open') return last;
  }
  return last;
}

async function attempt(path: string, policy: TrustPolicy): Promise<CheckedOpen> {
  const real = await realpath(path).catch(() => null);
  if (real === null) return { refused: 'changed-during-open' };
  const reason = policy.judge(real);
  if (reason !== null) return { refused: reason, realPath: real };
  const checked = await stat(real, { bigint: true }).catch(() => null);
  if (checked === null) return { refused: 'changed-during-open', realPath: real };
  if (!checked.isFile()) return { refused: 'not-regular', realPath: real };
  const fh = await open(real, FLAGS).catch(() => null);
  if (fh === null) return { refused: 'changed-during-open', realPath: real };
  const v = await verify(fh, checked, policy);
  if ('st' in v) return { fh, st: v.st, realPath: real };
  await fh.close().catch(() => {});
  return { refused: v.refused, realPath: real };
}

/** The descriptor's stat when it is the regular file that was checked, inside the roots; else why not. */
export async function verify(
  fh: FileHandle,
  checked: BigIntStats,
  policy: TrustPolicy,
): Promise<{ st: BigIntStats } | { refused: RefusalReason }> {
  const st = await fh.stat({ bigint: true });
  if (!st.isFile()) return { refused: 'not-regular' };
  if (st.dev !== checked.dev || st.ino !== checked.ino) return { refused: 'changed-during-open' };
  const at = await descriptorPath(fh.fd);
  if (at !== null) {
    const reason = policy.judge(at);
    if (reason !== null) return { refused: reason };
    const fs = await statfs(`/proc/self/fd/${fh.fd}`).catch(() => null);
    if (fs !== null && SPECIAL_FS.has(Number(fs.type))) return { refused: 'special-filesystem' };
  }
  return { st };
}

/**
 * Reopen a file already followed (known by dev:ino), without blocking on whatever the path holds now;
 * null when the path no longer leads to that file or to anything that may be read.
 */
export async function reopenChecked(
  path: string,
  key: { dev: string; ino: string },
  policy: TrustPolicy,
): Promise<FileHandle | null> {
  const r = await openChecked(path, policy);
  if ('refused' in r) return null;
  if (String(r.st.dev) === key.dev && String(r.st.ino) === key.ino) return r.fh;
  await r.fh.close().catch(() => {});
  return null;
}

/**
 * False when the file holds data past `size`, the size it reported, and still reports no more: a kernel
 * file (procfs, sysfs) whose every end of file would look like a truncation.
 */
export async function sizeIsHonest(fh: FileHandle, size: number): Promise<boolean> {
  const probe = Buffer.alloc(1);
  const { bytesRead } = await fh.read(probe, 0, 1, size);
  if (bytesRead === 0) return true;
  return Number((await fh.stat()).size) > size;
}
