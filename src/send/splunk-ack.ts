// Splunk HEC indexer acknowledgement: poll the ack endpoint until a batch's ack id is indexed.
import { setTimeout as delay } from 'node:timers/promises';
import type { AckProtocol } from '../sinks/sink.js';

/** One acknowledgement query (POST of a JSON body to `path`): the answer, or a rejection when unanswered. */
export type AckQuery = (path: string, body: Buffer) => Promise<{ status: number; body: Buffer }>;

/** Poll the indexer acknowledgement until this id is indexed, the timeout, or shutdown (`signal`). */
export async function awaitAck(
  ack: AckProtocol,
  ackId: number,
  query: AckQuery,
  signal: AbortSignal,
): Promise<'acked' | 'timeout' | 'aborted'> {
  const deadline = Date.now() + ack.timeoutMs;
  let wait = 50;
  while (Date.now() < deadline) {
    try {
      await delay(Math.min(wait, Math.max(1, deadline - Date.now())), undefined, { signal });
    } catch {
      return 'aborted';
    }
    wait = Math.min(wait * 2, 1000);
    try {
      const res = await query(ack.path, ack.body([ackId]));
      if (res.status >= 200 && res.status < 300 && ack.acked(res.body).has(ackId)) return 'acked';
    } catch {
      if (signal.aborted) return 'aborted';
      // Not answered: ask again until the deadline.
    }
  }
  return 'timeout';
}
