// Example collector for the ndjson protocol: drops duplicates by id, keeps records on disk, serves a viewer.
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import split2 from 'split2';

export interface StoredRecord {
  id: string;
  timestamp: string;
  file: string;
  offset: number;
  message: string;
  labels?: Record<string, string>;
  [k: string]: unknown;
}

const PAGE = readFileSync(new URL('./viewer.html', import.meta.url), 'utf8');

export interface CollectorServer {
  url: string;
  records: StoredRecord[];
  duplicates: number;
  close(): Promise<void>;
}

export async function startExampleCollector(opts: {
  port?: number;
  dataDir: string;
}): Promise<CollectorServer> {
  mkdirSync(opts.dataDir, { recursive: true });
  const store = join(opts.dataDir, 'records.ndjson');
  const records: StoredRecord[] = [];
  const seen = new Set<string>();
  if (existsSync(store)) {
    for (const l of readFileSync(store, 'utf8').split('\n')) {
      if (!l) continue;
      const r = JSON.parse(l) as StoredRecord;
      if (!seen.has(r.id)) {
        seen.add(r.id);
        records.push(r);
      }
    }
  }
  const state: CollectorServer = { url: '', records, duplicates: 0, close: async () => {} };

  async function ingest(req: IncomingMessage): Promise<number> {
    const parsed: StoredRecord[] = [];
    const source = req.headers['content-encoding'] === 'gzip' ? req.pipe(createGunzip()) : req;
    // split2 fits here: the body is whole UTF-8 NDJSON, and byte offsets do not matter to the collector.
    await pipeline(source, split2(), async (lines: AsyncIterable<string>) => {
      for await (const line of lines) {
        if (line) parsed.push(JSON.parse(line) as StoredRecord);
      }
    });
    // Ids count as seen only once the whole body is accepted: a rejected body (400) must not make its
    // records look like duplicates when they are sent again. This part is synchronous, so concurrent
    // requests carrying the same id store it once.
    const fresh: StoredRecord[] = [];
    for (const r of parsed) {
      if (seen.has(r.id)) {
        state.duplicates++;
        continue;
      }
      seen.add(r.id);
      fresh.push(r);
    }
    if (fresh.length > 0) appendFileSync(store, fresh.map((r) => JSON.stringify(r)).join('\n') + '\n');
    records.push(...fresh);
    return fresh.length;
  }

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'POST' && url.pathname === '/ingest') {
      ingest(req).then(
        (n) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ accepted: n }));
        },
        (err: Error) => {
          res.writeHead(400, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: err.message }));
        },
      );
      return;
    }
    if (req.method === 'GET' && url.pathname === '/api/records') {
      const after = Number(url.searchParams.get('after') ?? 0);
      const limit = Math.min(Number(url.searchParams.get('limit') ?? 5000), 5000);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ total: records.length, records: records.slice(after, after + limit) }));
      return;
    }
    if (req.method === 'GET' && url.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(PAGE);
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}
