// A real HTTP collector on 127.0.0.1 for tests: decodes NDJSON (gzip too), counts records, injects faults.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

export interface ReceivedRecord {
  message: string;
  file: string;
  offset: number;
  timestamp: string;
  id: string;
  labels?: Record<string, string>;
  cut?: boolean;
}

/** What to do with one request: answer normally, or a fault. */
export type Fault =
  | { status: number; headers?: Record<string, string>; body?: string }
  | { reset: true }
  | { hang: true };

export interface Collector {
  url: string;
  records: ReceivedRecord[];
  /** Distinct ids received. */
  ids: Set<string>;
  /** Requests seen, including faulted ones. */
  requests: number;
  /** Per request: decide a fault (or undefined to accept). Set freely during a test. */
  fault: ((req: IncomingMessage, records: ReceivedRecord[]) => Fault | undefined) | null;
  close(): Promise<void>;
}

export async function startCollector(): Promise<Collector> {
  const hanging = new Set<ServerResponse>();
  const c: Collector = {
    url: '',
    records: [],
    ids: new Set(),
    requests: 0,
    fault: null,
    close: async () => {
      for (const r of hanging) r.destroy();
      // close() first (no new connections), then drop the open ones, as Node's docs advise.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      c.requests++;
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      const records = body
        .toString('utf8')
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as ReceivedRecord);
      const f = c.fault?.(req, records);
      if (f && 'reset' in f) {
        req.socket.destroy();
        return;
      }
      if (f && 'hang' in f) {
        hanging.add(res);
        return;
      }
      if (f) {
        res.writeHead(f.status, f.headers ?? {});
        res.end(f.body ?? '');
        return;
      }
      for (const r of records) {
        c.records.push(r);
        c.ids.add(r.id);
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  c.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ingest`;
  return c;
}
