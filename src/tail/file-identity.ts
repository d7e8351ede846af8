// File identity: device + inode, a fingerprint of the first bytes, and a hash of the bytes before an offset.
import { createHash } from 'node:crypto';
import { fstatSync, readSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

/** The fingerprint covers the first bytes of a file, growing with it up to this size. */
export const FINGERPRINT_MAX_BYTES = 1024;
/** At resume, this many bytes before the stored offset must hash the same. */
export const TAIL_CHECK_BYTES = 256;
/** The record id key covers the first line, up to this many bytes. */
export const ID_HEAD_BYTES = 64;

export interface Hashed {
  len: number;
  hash: string;
}

export function fileKey(dev: bigint | number | string, ino: bigint | number | string): string {
  return `${dev}:${ino}`;
}

function hash(buf: Buffer, from: number, to: number): string {
  return createHash('sha1').update(buf.subarray(from, to)).digest('hex').slice(0, 24);
}

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got === length ? buf : buf.subarray(0, got);
}

function readAtSync(fd: number, position: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

/** What a checkpoint entry says of a file's bytes: its fingerprint, and the hash of the bytes before the offset. */
export interface Identity {
  fingerprint: Hashed;
  tail: Hashed | null;
}

/**
 * The identity of the bytes a tailer read (fingerprinted as `known` so far): `head`, the file's first bytes
 * up to what was read, and `before`, those before the offset (null at 0). Null when the file no longer
 * starts with the bytes fingerprinted (truncated, maybe rewritten, and not seen yet).
 */
function identityOf(head: Buffer, before: Buffer | null, known: Hashed): Identity | null {
  if (head.length < known.len || hash(head, 0, known.len) !== known.hash) return null;
  const fingerprint =
    head.length > known.len ? { len: head.length, hash: hash(head, 0, head.length) } : known;
  return {
    fingerprint,
    tail: before === null ? null : { len: before.length, hash: hash(before, 0, before.length) },
  };
}

/**
 * The identity of a file's bytes a tailer read (`readTo` of them), for a checkpoint at `offset`; null when
 * the file no longer holds them (shorter than `readTo`, or starting with other bytes).
 */
export async function identity(
  fh: FileHandle,
  known: Hashed,
  readTo: number,
  offset: number,
): Promise<Identity | null> {
  if (Number((await fh.stat()).size) < readTo) return null;
  const head = await readAt(fh, 0, Math.min(readTo, FINGERPRINT_MAX_BYTES));
  const len = Math.min(offset, TAIL_CHECK_BYTES);
  return identityOf(head, offset === 0 ? null : await readAt(fh, offset - len, len), known);
}

/** `identity`, synchronously from a descriptor: for the checkpoint the second signal writes on its way out. */
export function identitySync(fd: number, known: Hashed, readTo: number, offset: number): Identity | null {
  if (fstatSync(fd).size < readTo) return null;
  const head = readAtSync(fd, 0, Math.min(readTo, FINGERPRINT_MAX_BYTES));
  const len = Math.min(offset, TAIL_CHECK_BYTES);
  return identityOf(head, offset === 0 ? null : readAtSync(fd, offset - len, len), known);
}

/** The fingerprint of an empty file (or of one truncated to nothing). */
export const EMPTY_FINGERPRINT: Hashed = { len: 0, hash: hash(Buffer.alloc(0), 0, 0) };

/** Hash of the first min(size, FINGERPRINT_MAX_BYTES) bytes. */
export async function fingerprint(fh: FileHandle, size: number): Promise<Hashed> {
  const buf = await readAt(fh, 0, Math.min(size, FINGERPRINT_MAX_BYTES));
  return { len: buf.length, hash: hash(buf, 0, buf.length) };
}

/** Does the file still start with the bytes that were fingerprinted? */
export async function fingerprintMatches(fh: FileHandle, fp: Hashed): Promise<boolean> {
  const buf = await readAt(fh, 0, fp.len);
  return buf.length === fp.len && hash(buf, 0, buf.length) === fp.hash;
}

export async function tailMatches(fh: FileHandle, offset: number, expected: Hashed): Promise<boolean> {
  if (offset < expected.len) return false;
  const buf = await readAt(fh, offset - expected.len, expected.len);
  return buf.length === expected.len && hash(buf, 0, buf.length) === expected.hash;
}

/**
 * The key that makes record ids stable across retries and restarts: device, inode and the file's first
 * line (up to 64 bytes), which no longer changes once a record exists. A truncated and rewritten file
 * gets new ids, as it holds new lines.
 */
export async function idKey(fh: FileHandle, dev: string, ino: string): Promise<string> {
  const head = await readAt(fh, 0, ID_HEAD_BYTES);
  return idKeyFrom(head, head.length, dev, ino);
}

export function idKeyFrom(head: Buffer, len: number, dev: string, ino: string): string {
  const n = Math.min(len, ID_HEAD_BYTES);
  const nl = head.indexOf(0x0a);
  const end = nl >= 0 && nl < n ? nl + 1 : n;
  return createHash('sha1').update(`${dev}:${ino}:`).update(head.subarray(0, end)).digest('hex').slice(0, 16);
}

/** A new id key for a rewritten file whose head key may equal the previous generation's. */
export function saltedIdKey(previous: string, key: string): string {
  return createHash('sha1').update(`${previous}>${key}`).digest('hex').slice(0, 16);
}

/** A file has a complete first line (or enough bytes) for a stable id key. */
export function headIsStable(head: Buffer, len: number): boolean {
  if (len >= ID_HEAD_BYTES) return true;
  const nl = head.indexOf(0x0a);
  return nl >= 0 && nl < len;
}
