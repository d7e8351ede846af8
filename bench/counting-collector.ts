// A slim collector for the benchmark: counts lines (records) and bytes, and latency from a write time in the line.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { createGunzip, gunzip as gunzipCb } from 'node:zlib';

const gunzip = promisify(gunzipCb);

export interface CountingCollector {
  url: string;
  lines: number;
  bytes: number;
  /** Latency samples (ms) of lines carrying `wt=<epoch ms>`, when sampling is on. */
  latencies: number[];
  sampleLatency: boolean;
  close(): Promise<void>;
}

const MARK = Buffer.from('wt=');

export async function startCountingCollector(): Promise<CountingCollector> {
  const c: CountingCollector = {
    url: '',
    lines: 0,
    bytes: 0,
    latencies: [],
    sampleLatency: false,
    close: async () => {},
  };
  const server: Server = createServer((req, res) => {
    const done = (lines: number, bytes: number) => {
      c.lines += lines;
      c.bytes += bytes;
      res.writeHead(200);
      res.end();
    };
    const gzipped = req.headers['content-encoding'] === 'gzip';
    if (!c.sampleLatency) {
      // Counted as the bytes arrive, chunk by chunk: no body is put together, so the collector (in the
      // bench's process) is not the bottleneck; concatenating bodies slowed the agent's runs, whose records
      // are larger than the raw lines, more than the baseline's (figures: docs/performance.md).
      const body = gzipped ? req.pipe(createGunzip()) : req;
      let lines = 0;
      let bytes = 0;
      body.on('data', (d: Buffer) => {
        bytes += d.length;
        for (let i = d.indexOf(10); i !== -1; i = d.indexOf(10, i + 1)) lines++;
      });
      body.on('end', () => done(lines, bytes));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', async () => {
      let body = Buffer.concat(chunks);
      if (gzipped) body = await gunzip(body);
      const now = Date.now();
      let n = 0;
      for (let i = body.indexOf(10); i !== -1; i = body.indexOf(10, i + 1)) n++;
      for (let i = body.indexOf(MARK); i !== -1; i = body.indexOf(MARK, i + 3)) {
        c.latencies.push(now - Number(body.toString('latin1', i + 3, i + 16)));
      }
      done(n, body.length);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  c.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ingest`;
  c.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return c;
}
