// The agent's own HTTP server: /healthz (alive and not stuck), /readyz, /metrics (Prometheus) and /status (JSON).
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import type { Metrics } from './metrics.js';

// Taken as CommonJS, not with `import`: an ES import of a built-in reads every export, and on Node 26
// node:http's WebSocket, CloseEvent and MessageEvent are getters that load Node's own copy of undici and
// web streams: with `import`, process.moduleLoadList lists internal/deps/undici/undici; with this, it does
// not.
const { createServer } = process.getBuiltinModule('node:http');

export interface HealthSource {
  /** Null when healthy, else why not. */
  unhealthy(): string | null;
  ready(): boolean;
  /** Why delivery is held, if it is, and the dead-letter files (`GET /status`). */
  status?(): Promise<unknown>;
}

export function startHealthServer(
  port: number,
  source: HealthSource,
  metrics: Metrics,
  log: Logger,
  /** LOGFERRY_HTTP_HOST: an IP address or localhost. */
  host = '0.0.0.0',
): Server | null {
  if (port === 0) return null;
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      const why = source.unhealthy();
      res.writeHead(why === null ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify(why === null ? { status: 'ok' } : { status: 'stuck', reason: why }));
    } else if (path === '/readyz') {
      const ok = source.ready();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: ok ? 'ready' : 'not ready' }));
    } else if (path === '/status' && source.status) {
      source.status().then(
        (body) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(`${JSON.stringify(body)}\n`);
        },
        (err: Error) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(`status failed: ${err.message}\n`);
        },
      );
    } else if (path === '/metrics') {
      metrics.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': metrics.contentType });
          res.end(text);
        },
        (err: Error) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(`metrics failed: ${err.message}\n`);
        },
      );
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
    }
  });
  server.on('error', (err) =>
    log.error(
      { err, host, port, code: 'LOGFERRY_HTTP_LISTEN' },
      'health server could not listen; shipping goes on without it',
    ),
  );
  server.listen(port, host);
  server.unref();
  return server;
}
