// HTTP/1.1 requests to one origin over a few keep-alive connections, with node:http or node:https.
//
// Node's own client rather than undici: the agent already loads node:http for its health server, and
// its parser is native, so nothing is loaded or compiled at the first request (see docs/architecture.md,
// Dependencies). HTTP/2 is never offered (no ALPN), so an h2-capable collector answers in HTTP/1.1.
import type { Agent, ClientRequest, IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { ConnectionOptions } from 'node:tls';

export interface HttpPoolOptions {
  /** Most connections open at once (requests beyond wait for one). */
  connections: number;
  /** An idle connection is closed after this long. */
  keepAliveTimeout: number;
  /** A request fails with LOGFERRY_HTTP_TIMEOUT when its connection is silent this long. */
  idleTimeout: number;
  /** ... or when a new connection is not established within this long. */
  connectTimeout: number;
  /** TLS options, for an https origin. */
  tls?: ConnectionOptions;
}

export interface HttpRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: Buffer;
  signal?: AbortSignal;
}

export interface HttpResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  /** The response body, to be read to its end (readBody, dumpBody) or destroyed. */
  body: IncomingMessage;
}

/** A request whose connection was silent too long (connecting, waiting for the answer, or reading it). */
/** A pool's options from a request timeout: connecting takes at most 10 s of it; idle connections close after 30 s. */
export function poolOptions(
  connections: number,
  requestTimeoutMs: number,
  tls?: ConnectionOptions,
): HttpPoolOptions {
  return {
    connections,
    keepAliveTimeout: 30_000,
    idleTimeout: requestTimeoutMs,
    connectTimeout: Math.min(requestTimeoutMs, 10_000),
    tls,
  };
}

class HttpTimeoutError extends Error {
  readonly code = 'LOGFERRY_HTTP_TIMEOUT';
  constructor(ms: number) {
    super(`the connection was silent for ${ms} ms`);
  }
}

type RequestFn = typeof import('node:http').request;

export class HttpPool {
  private readonly origin: URL;
  private client: { agent: Agent; request: RequestFn } | null = null;

  constructor(
    origin: string,
    private readonly opts: HttpPoolOptions,
  ) {
    this.origin = new URL(origin);
    if (this.origin.protocol !== 'http:' && this.origin.protocol !== 'https:') {
      throw new Error(`unsupported protocol ${this.origin.protocol}`);
    }
  }

  /**
   * node:https (and with it node:tls) is loaded only for an https origin. Taken with getBuiltinModule, as
   * health-server.ts takes node:http: an ES import of node:http reads its every export, some of them
   * getters that load Node's internal copy of undici.
   */
  private load(): { agent: Agent; request: RequestFn } {
    if (this.client === null) {
      const o = this.opts;
      const common = {
        keepAlive: true,
        maxSockets: o.connections,
        maxFreeSockets: o.connections,
        timeout: o.keepAliveTimeout,
        scheduling: 'lifo' as const,
      };
      if (this.origin.protocol === 'https:') {
        const https = process.getBuiltinModule('node:https');
        this.client = {
          agent: new https.Agent({ ...common, ...o.tls }),
          request: https.request as RequestFn,
        };
      } else {
        const http = process.getBuiltinModule('node:http');
        this.client = { agent: new http.Agent(common), request: http.request };
      }
    }
    return this.client;
  }

  async request(r: HttpRequest): Promise<HttpResponse> {
    const { agent, request } = this.load();
    r.signal?.throwIfAborted();
    const u = this.origin;
    return new Promise<HttpResponse>((resolve, reject) => {
      const headers: Record<string, string> = { ...r.headers };
      if (r.body !== undefined) headers['content-length'] = String(r.body.length);
      const req: ClientRequest = request({
        agent,
        protocol: u.protocol,
        hostname: u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname,
        port: u.port || undefined,
        method: r.method,
        path: r.path,
        headers,
      });
      const signal = r.signal;
      const onAbort = () => req.destroy(signal!.reason as Error);
      signal?.addEventListener('abort', onAbort, { once: true });
      const settle = () => signal?.removeEventListener('abort', onAbort);
      const { idleTimeout, connectTimeout } = this.opts;
      // Node's request timeout starts once the socket is connected: connecting has its own.
      req.once('socket', (socket) => {
        if (!socket.connecting) return;
        const t = setTimeout(() => req.destroy(new HttpTimeoutError(connectTimeout)), connectTimeout);
        socket.once('connect', () => clearTimeout(t));
        socket.once('close', () => clearTimeout(t));
      });
      req.setTimeout(idleTimeout, () => req.destroy(new HttpTimeoutError(idleTimeout)));
      // `on`, not `once`: the socket may fail again after the answer (the body's reader sees that).
      req.on('error', (err) => {
        settle();
        reject(err);
      });
      req.once('response', (res) => {
        // Reading the body stays under the same abort signal and timeout; its end lets them go.
        res.once('close', settle);
        resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body: res });
      });
      req.end(r.body);
    });
  }

  /** Close every connection; requests in flight fail. */
  async destroy(): Promise<void> {
    this.client?.agent.destroy();
  }
}

/** The whole response body. */
export async function readBody(body: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

/** Read the body to its end and drop it, so the connection can carry the next request. */
export async function dumpBody(body: IncomingMessage): Promise<void> {
  for await (const _ of body) {
    // discarded
  }
}
