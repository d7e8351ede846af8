// One request to the collector and what its answer says (status, Retry-After, a refusal's reason, a 2xx body); shared by the sender and `replay`.
import type { Sink } from '../sinks/sink.js';
import type { Credentials } from './auth.js';
import { dumpBody, type HttpPool, readBody } from './http-pool.js';
import { RequestDeadline } from './request-deadline.js';
import type { Outcome } from './retry-policy.js';
import type { AckQuery } from './splunk-ack.js';

/** Most of an error response body kept for the log and the dead-letter file. */
const REASON_MAX_CHARS = 1024;

/** Most of a 2xx answer read (per-item results, partial success, ack id); a larger one is unreadable. */
export const SUCCESS_BODY_MAX_BYTES = 4 * 1024 * 1024;

/** Most bytes of a 2xx answer kept when it is larger than the cap (a protocol may read its start). */
const TRUNCATED_PREFIX_BYTES = 64 * 1024;

/** Where requests go and how they are made. */
export interface CollectorTarget {
  pool: HttpPool;
  /** The protocol: request path, content type, headers, and how to read the answers. */
  sink: Sink;
  requestTimeoutMs: number;
  userAgent: string;
  credentials?: Credentials | null;
}

export interface Answer {
  outcome: Outcome;
  retryAfter?: string;
  reason?: string;
  /** The 2xx answer's body, when the sink reads it (its first bytes only when `truncated`). */
  body?: Buffer;
  truncated?: boolean;
  contentType?: string;
}

/** POST an encoded body (gzip when `compressed`); a network error or the deadline is an outcome, not a throw. */
export async function postBody(
  to: CollectorTarget,
  body: Buffer,
  compressed: boolean,
  signal: AbortSignal,
): Promise<Answer> {
  const { sink, credentials } = to;
  const headers: Record<string, string> = {
    ...credentials?.headers(),
    ...sink.headers?.(),
    'content-type': sink.contentType,
    'user-agent': to.userAgent,
  };
  if (compressed) headers['content-encoding'] = 'gzip';
  const deadline = new RequestDeadline(signal, to.requestTimeoutMs);
  try {
    const res = await to.pool.request({
      path: sink.path,
      method: 'POST',
      headers,
      body,
      signal: deadline.signal,
    });
    const ok = res.statusCode >= 200 && res.statusCode < 300;
    const ct = res.headers['content-type'];
    const contentType = Array.isArray(ct) ? ct[0] : ct;
    let reason = '';
    let answer: Buffer | undefined;
    let truncated = false;
    if (!ok) {
      const raw = await readReason(res.body);
      reason = (sink.describe ? sink.describe(raw, contentType) : raw.toString('utf8'))
        .slice(0, REASON_MAX_CHARS)
        .trim();
    } else if (sink.readsSuccessBody) {
      const read = await readCapped(res.body, SUCCESS_BODY_MAX_BYTES);
      answer = read.body;
      truncated = read.truncated;
    } else await dumpBody(res.body);
    const ra = res.headers['retry-after'];
    return {
      outcome: { status: res.statusCode },
      retryAfter: Array.isArray(ra) ? ra[0] : ra,
      reason,
      body: answer,
      truncated,
      contentType,
    };
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    const name = (err as Error).name;
    const timeout = code === 'LOGFERRY_HTTP_TIMEOUT' || name === 'TimeoutError';
    return {
      outcome: { error: timeout ? 'timeout' : 'network' },
      reason: `${code || name}: ${(err as Error).message}`,
    };
  } finally {
    deadline.done();
  }
}

/** Splunk's indexer acknowledgement queries, under the same credentials and deadline as the requests. */
export function ackQueryOf(to: CollectorTarget, signal: AbortSignal): AckQuery {
  return async (path, body) => {
    await to.credentials?.refresh();
    const deadline = new RequestDeadline(signal, to.requestTimeoutMs);
    try {
      const res = await to.pool.request({
        path,
        method: 'POST',
        headers: {
          ...to.credentials?.headers(),
          ...to.sink.headers?.(),
          'content-type': 'application/json',
          'user-agent': to.userAgent,
        },
        body,
        signal: deadline.signal,
      });
      return { status: res.statusCode, body: await readBody(res.body) };
    } finally {
      deadline.done();
    }
  };
}

/** A 2xx body up to `max` bytes; beyond that, its first bytes and `truncated` (the rest is not read). */
export async function readCapped(
  body: AsyncIterable<Buffer> & { destroy(): void },
  max: number,
): Promise<{ body: Buffer; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    n += chunk.length;
    if (n > max) {
      body.destroy();
      return { body: Buffer.concat(chunks).subarray(0, TRUNCATED_PREFIX_BYTES), truncated: true };
    }
  }
  return { body: Buffer.concat(chunks), truncated: false };
}

/** The start of an error answer, for the log and the dead-letter file; best effort, the status decides. */
async function readReason(body: AsyncIterable<Buffer> & { destroy(): void }): Promise<Buffer> {
  return (await readCapped(body, REASON_MAX_CHARS * 4).catch(() => null))?.body ?? Buffer.alloc(0);
}
