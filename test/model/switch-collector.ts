// A real NDJSON collector on 127.0.0.1 for the model test, switchable between accepting, down, 401 and
// refusing poison: it records what it acknowledged (answered 2xx) and every body it was sent.
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { gunzipSync } from 'node:zlib';

/** `accept` answers 2xx (400 for a body holding a poison line); the others never acknowledge anything. */
export type CollectorMode = 'accept' | 'down-503' | 'down-reset' | 'down-closed' | 'http-401';

export interface SeenRecord {
  message: string;
  file: string;
  offset: number;
  id: string;
}

export interface SwitchCollector {
  url: string;
  mode: CollectorMode;
  /** Records of requests answered 2xx, in order. */
  acked: SeenRecord[];
  /** Messages acknowledged at least once. */
  ackedMessages: Set<string>;
  /** Every record in any request, whatever the answer (for the id and secret checks). */
  seen: SeenRecord[];
  /** Decoded bodies that held one of the `forbidden` strings (never expected). */
  leaks: string[];
  requests: number;
  setMode(mode: CollectorMode): Promise<void>;
  close(): Promise<void>;
}

/**
 * `poisonMarker`: a body holding it is refused with 400 (the record is bad, not the request).
 * `forbidden`: strings that must never reach the collector (a secret file's content, the agent's environment).
 */
export async function startSwitchCollector(
  poisonMarker: string,
  forbidden: string[],
): Promise<SwitchCollector> {
  const sockets = new Set<Socket>();
  let server: Server;
  let port = 0;
  const handler = (req: import('node:http').IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      c.requests++;
      if (c.mode === 'down-reset') {
        req.socket.destroy();
        return;
      }
      let body = Buffer.concat(chunks);
      try {
        if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      } catch {
        res.writeHead(400).end('bad gzip');
        return;
      }
      const text = body.toString('utf8');
      for (const f of forbidden) {
        const at = text.indexOf(f);
        if (at < 0) continue;
        const from = text.lastIndexOf('\n', at) + 1;
        const to = text.indexOf('\n', at);
        c.leaks.push(text.slice(from, to < 0 ? undefined : to).slice(0, 400));
      }
      const records: SeenRecord[] = [];
      for (const l of text.split('\n')) {
        if (l.length === 0) continue;
        try {
          const r = JSON.parse(l) as SeenRecord;
          records.push({
            message: String(r.message),
            file: String(r.file),
            offset: Number(r.offset),
            id: String(r.id),
          });
        } catch {
          // A record that is not JSON is noted as seen text only (the leak check above covers it).
        }
      }
      c.seen.push(...records);
      if (c.mode === 'down-503') {
        res.writeHead(503, { 'retry-after': '0' }).end('down');
        return;
      }
      if (c.mode === 'http-401') {
        res.writeHead(401, { 'content-type': 'text/plain' }).end('token expired');
        return;
      }
      const bad = records.find((r) => r.message.includes(poisonMarker));
      if (bad || text.includes(poisonMarker)) {
        // Names the record, as a collector's validation error does: each poison record has its own reason.
        res
          .writeHead(400, { 'content-type': 'text/plain' })
          .end(`invalid record: ${bad?.message ?? 'unparsable'}`);
        return;
      }
      // Recorded before the answer is written: the agent can only act on an ack the collector already counted.
      for (const r of records) {
        c.acked.push(r);
        c.ackedMessages.add(r.message);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  };
  const listen = async (): Promise<void> => {
    server = createServer(handler);
    server.on('connection', (s: Socket) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    port = (server.address() as AddressInfo).port;
  };
  const stop = async (): Promise<void> => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    for (const s of sockets) s.destroy();
    await closed;
  };
  let listening = true;
  const c: SwitchCollector = {
    url: '',
    mode: 'accept',
    acked: [],
    ackedMessages: new Set(),
    seen: [],
    leaks: [],
    requests: 0,
    setMode: async (mode) => {
      c.mode = mode;
      if (mode === 'down-closed' && listening) {
        listening = false;
        await stop();
      } else if (mode !== 'down-closed' && !listening) {
        // The same port again: the agent's endpoint does not change.
        await listen();
        listening = true;
      }
    },
    close: async () => {
      if (listening) await stop();
      listening = false;
    },
  };
  await listen();
  c.url = `http://127.0.0.1:${port}/ingest`;
  return c;
}
