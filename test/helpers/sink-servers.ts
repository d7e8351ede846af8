// Fake collectors on 127.0.0.1 that check payloads the way the real ones do: Loki's push API (JSON schema,
// label names, per-stream ordering), Elasticsearch `_bulk` (action/source pairs, `create` + `_id`, per-item
// results), OTLP/HTTP logs (decoded with the OpenTelemetry project's generated protobufjs code) and Splunk
// HEC (token, events, indexer acknowledgement). Each can inject faults per request.
import {
  createServer as createHttp,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttps, type ServerOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import generatedOtlp from '@opentelemetry/otlp-transformer/build/src/generated/root.js';

export interface Fault {
  status: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export interface Received {
  headers: IncomingMessage['headers'];
  path: string;
  body: Buffer;
}

export interface FakeServer {
  url: string;
  /** Every request, decoded from gzip. */
  requests: Received[];
  /** Problems the server found in a payload (a test asserts this stays empty). */
  violations: string[];
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, body: Buffer, res: ServerResponse) => void;

async function listen(handler: Handler, tls?: ServerOptions): Promise<{ server: Server; url: string }> {
  const wrap = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      handler(req, body, res);
    });
  };
  const server = tls ? createHttps(tls, wrap) : createHttp(wrap);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { server, url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}` };
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

function reply(res: ServerResponse, f: Fault): void {
  res.writeHead(f.status, f.headers ?? {});
  res.end(f.body ?? '');
}

// ---------------------------------------------------------------------------------------------- Loki

export interface LokiEntry {
  stream: Record<string, string>;
  ts: string;
  line: string;
  metadata?: Record<string, string>;
}

export interface FakeLoki extends FakeServer {
  entries: LokiEntry[];
  /** Per request, before validation: a fault to answer instead. */
  fault: ((body: unknown, req: IncomingMessage) => Fault | undefined) | null;
  /** Reject entries not newer than the stream's last (Loki without unordered writes). */
  strictOrder: boolean;
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export async function startLoki(tls?: ServerOptions): Promise<FakeLoki> {
  const last = new Map<string, bigint>();
  const f: FakeLoki = {
    url: '',
    requests: [],
    violations: [],
    entries: [],
    fault: null,
    strictOrder: true,
    close: async () => closeServer(server),
  };
  const { server, url } = await listen((req, body, res) => {
    f.requests.push({ headers: req.headers, path: req.url ?? '', body });
    if (req.method !== 'POST' || req.url !== '/loki/api/v1/push') {
      f.violations.push(`unexpected ${req.method} ${req.url}`);
      return reply(res, { status: 404, body: '404 page not found' });
    }
    if (!String(req.headers['content-type']).startsWith('application/json')) {
      f.violations.push(`content-type ${req.headers['content-type']}`);
      return reply(res, { status: 415 });
    }
    let doc: { streams?: { stream?: Record<string, unknown>; values?: unknown[] }[] };
    try {
      doc = JSON.parse(body.toString('utf8'));
    } catch (err) {
      f.violations.push(`bad JSON: ${(err as Error).message}`);
      return reply(res, { status: 400, body: 'loghttp: bad JSON' });
    }
    const fault = f.fault?.(doc, req);
    if (fault) return reply(res, fault);
    if (!Array.isArray(doc.streams)) {
      f.violations.push('no streams array');
      return reply(res, { status: 400, body: 'no streams' });
    }
    const rejected: string[] = [];
    for (const s of doc.streams) {
      const labels = s.stream ?? {};
      const names = Object.keys(labels);
      if (names.length === 0) f.violations.push('stream without labels');
      for (const n of names) {
        if (!LABEL_NAME.test(n)) f.violations.push(`invalid label name ${JSON.stringify(n)}`);
        if (typeof labels[n] !== 'string') f.violations.push(`label ${n} is not a string`);
      }
      const key = JSON.stringify(Object.entries(labels).sort());
      if (!Array.isArray(s.values)) {
        f.violations.push('values is not an array');
        continue;
      }
      for (const v of s.values) {
        if (!Array.isArray(v) || v.length < 2 || v.length > 3) {
          f.violations.push(`entry is not [ts, line, metadata?]: ${JSON.stringify(v)}`);
          continue;
        }
        const [ts, line, md] = v as [unknown, unknown, unknown];
        if (typeof ts !== 'string' || !/^\d{19}$/.test(ts))
          f.violations.push(`timestamp ${JSON.stringify(ts)}`);
        if (typeof line !== 'string') f.violations.push('line is not a string');
        if (md !== undefined) {
          if (typeof md !== 'object' || md === null || Array.isArray(md))
            f.violations.push('metadata is not an object');
          else
            for (const x of Object.values(md))
              if (typeof x !== 'string') f.violations.push('metadata value not a string');
        }
        const t = BigInt(String(ts));
        const prev = last.get(key);
        if (f.strictOrder && prev !== undefined && t <= prev) {
          rejected.push(
            `entry with timestamp ${ts} ignored, reason: 'entry out of order' for stream: ${key}`,
          );
          continue;
        }
        last.set(key, t);
        f.entries.push({
          stream: labels as Record<string, string>,
          ts: String(ts),
          line: String(line),
          metadata: md as Record<string, string> | undefined,
        });
      }
    }
    // Like Loki: the valid entries are stored, the request is answered 400 naming the rejected ones.
    if (rejected.length > 0) return reply(res, { status: 400, body: rejected.join(',\n') });
    reply(res, { status: 204 });
  }, tls);
  f.url = url;
  return f;
}

// ------------------------------------------------------------------------------------- Elasticsearch

export interface EsDoc {
  index: string;
  id: string;
  source: Record<string, unknown>;
}

export interface FakeElasticsearch extends FakeServer {
  /** Stored documents by `index/id`. */
  docs: Map<string, EsDoc>;
  /** Per action: an item result to answer instead of storing (e.g. 429, a mapping error). */
  itemFault: ((doc: EsDoc) => { status: number; error: { type: string; reason: string } } | undefined) | null;
  /** Per request: a fault for the whole request. */
  fault: ((req: IncomingMessage) => Fault | undefined) | null;
  /** Actions per `_bulk` request, in order. */
  bulks: EsDoc[][];
}

export async function startElasticsearch(tls?: ServerOptions): Promise<FakeElasticsearch> {
  const f: FakeElasticsearch = {
    url: '',
    requests: [],
    violations: [],
    docs: new Map(),
    itemFault: null,
    fault: null,
    bulks: [],
    close: async () => closeServer(server),
  };
  const { server, url } = await listen((req, body, res) => {
    f.requests.push({ headers: req.headers, path: req.url ?? '', body });
    if (req.method !== 'POST' || req.url !== '/_bulk') {
      f.violations.push(`unexpected ${req.method} ${req.url}`);
      return reply(res, { status: 404 });
    }
    const fault = f.fault?.(req);
    if (fault) return reply(res, fault);
    if (!String(req.headers['content-type']).startsWith('application/x-ndjson')) {
      f.violations.push(`content-type ${req.headers['content-type']}`);
    }
    const text = body.toString('utf8');
    if (!text.endsWith('\n')) f.violations.push('bulk body does not end with a newline');
    const lines = text.split('\n').filter((l) => l.length > 0);
    if (lines.length % 2 !== 0) f.violations.push(`odd number of bulk lines (${lines.length})`);
    const items: unknown[] = [];
    const bulk: EsDoc[] = [];
    let errors = false;
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const action = JSON.parse(lines[i]!) as Record<string, { _index?: string; _id?: string }>;
      const source = JSON.parse(lines[i + 1]!) as Record<string, unknown>;
      const op = Object.keys(action);
      if (op.length !== 1 || op[0] !== 'create') f.violations.push(`action is not create: ${lines[i]}`);
      const meta = action.create ?? {};
      if (!meta._index || !meta._id) f.violations.push(`create without _index/_id: ${lines[i]}`);
      if (typeof source['@timestamp'] !== 'string') f.violations.push('document without @timestamp');
      if (typeof source.message !== 'string') f.violations.push('document without message');
      const doc: EsDoc = { index: meta._index ?? '', id: meta._id ?? '', source };
      bulk.push(doc);
      const key = `${doc.index}/${doc.id}`;
      const itemFault = f.itemFault?.(doc);
      if (itemFault) {
        errors = true;
        items.push({
          create: { _index: doc.index, _id: doc.id, status: itemFault.status, error: itemFault.error },
        });
      } else if (f.docs.has(key)) {
        errors = true;
        items.push({
          create: {
            _index: doc.index,
            _id: doc.id,
            status: 409,
            error: {
              type: 'version_conflict_engine_exception',
              reason: `[${doc.id}]: version conflict, document already exists (current version [1])`,
            },
          },
        });
      } else {
        f.docs.set(key, doc);
        items.push({
          create: { _index: doc.index, _id: doc.id, _version: 1, result: 'created', status: 201, _seq_no: 0 },
        });
      }
    }
    f.bulks.push(bulk);
    reply(res, {
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ took: 1, errors, items }),
    });
  }, tls);
  f.url = url;
  return f;
}

// ---------------------------------------------------------------------------------------------- OTLP

/** A message class of protobufjs's static (generated) code. */
export interface OtlpMessageType {
  decode(data: Uint8Array): object;
  encode(message: object): { finish(): Uint8Array };
  fromObject(object: Record<string, unknown>): object;
  toObject(
    message: object,
    options?: { longs?: unknown; enums?: unknown; arrays?: boolean; defaults?: boolean },
  ): Record<string, unknown>;
}

/**
 * The OTLP logs messages as compiled from the official .proto files by the OpenTelemetry JS project
 * (protobufjs static code in the npm package `@opentelemetry/otlp-transformer`, pinned to 0.214.0: the last
 * release that ships the logs messages that way and runs on Node 20).
 */
const collectorLogs = (
  generatedOtlp as unknown as {
    opentelemetry: {
      proto: {
        collector: {
          logs: {
            v1: { ExportLogsServiceRequest: OtlpMessageType; ExportLogsServiceResponse: OtlpMessageType };
          };
        };
      };
    };
  }
).opentelemetry.proto.collector.logs.v1;

export const otlpRequestType = (): OtlpMessageType => collectorLogs.ExportLogsServiceRequest;
export const otlpResponseType = (): OtlpMessageType => collectorLogs.ExportLogsServiceResponse;

/** Decoded ExportLogsServiceRequest as a plain object (longs as strings, enums as numbers). */
export type OtlpRequest = {
  resourceLogs?: {
    resource?: { attributes?: { key: string; value: Record<string, unknown> }[] };
    scopeLogs?: {
      scope?: { name?: string; version?: string };
      logRecords?: {
        observedTimeUnixNano?: string;
        timeUnixNano?: string;
        severityNumber?: number;
        severityText?: string;
        body?: { stringValue?: string };
        attributes?: { key: string; value: Record<string, unknown> }[];
      }[];
    }[];
  }[];
};

export interface FakeOtlp extends FakeServer {
  /**
   * Requests the collector stored records of. A partial success does not say which records it rejected:
   * a request it answered with one is here whole, unless it rejected every record (then it stored none).
   */
  exports: OtlpRequest[];
  /** Per request: a fault, or a partial success to answer with. */
  fault:
    | ((
        req: IncomingMessage,
        decoded: OtlpRequest,
      ) => Fault | { rejected: number; message: string } | undefined)
    | null;
}

export async function startOtlp(tls?: ServerOptions): Promise<FakeOtlp> {
  const reqType = otlpRequestType();
  const resType = otlpResponseType();
  const f: FakeOtlp = {
    url: '',
    requests: [],
    violations: [],
    exports: [],
    fault: null,
    close: async () => closeServer(server),
  };
  const { server, url } = await listen((req, body, res) => {
    f.requests.push({ headers: req.headers, path: req.url ?? '', body });
    if (req.method !== 'POST' || req.url !== '/v1/logs') {
      f.violations.push(`unexpected ${req.method} ${req.url}`);
      return reply(res, { status: 404 });
    }
    const ct = String(req.headers['content-type']);
    const json = ct.startsWith('application/json');
    if (!json && !ct.startsWith('application/x-protobuf')) f.violations.push(`content-type ${ct}`);
    let decoded: OtlpRequest;
    try {
      if (json) {
        const obj = JSON.parse(body.toString('utf8'));
        f.violations.push(...checkOtlpJson(obj, reqType, ''));
        decoded = reqType.toObject(reqType.fromObject(obj), { longs: String, enums: Number }) as OtlpRequest;
      } else {
        decoded = reqType.toObject(reqType.decode(body), { longs: String, enums: Number }) as OtlpRequest;
      }
    } catch (err) {
      f.violations.push(`cannot decode: ${(err as Error).message}`);
      return reply(res, { status: 400, headers: { 'content-type': ct }, body: '' });
    }
    const fault = f.fault?.(req, decoded);
    if (fault && 'status' in fault) return reply(res, fault);
    if (!fault || fault.rejected < otlpRecords([decoded]).length) f.exports.push(decoded);
    const response = fault
      ? { partialSuccess: { rejectedLogRecords: fault.rejected, errorMessage: fault.message } }
      : {};
    const out = json
      ? JSON.stringify(
          fault
            ? { partialSuccess: { rejectedLogRecords: String(fault.rejected), errorMessage: fault.message } }
            : {},
        )
      : Buffer.from(resType.encode(resType.fromObject(response)).finish());
    reply(res, {
      status: 200,
      headers: { 'content-type': json ? 'application/json' : 'application/x-protobuf' },
      body: out,
    });
  }, tls);
  f.url = url;
  return f;
}

/**
 * OTLP/JSON rules on top of the proto3 JSON mapping: keys are lowerCamelCase field names of the message
 * (unknown keys are an error here, as the agent must not invent fields), enums are integers, 64-bit
 * integers are decimal strings (numbers accepted), nested messages are objects, repeated fields arrays.
 * Checked by a round trip through the generated message classes: whatever the mapping drops or reads
 * differently is reported with its path.
 */
export function checkOtlpJson(obj: unknown, type: OtlpMessageType, path = ''): string[] {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return [`${path}: not an object`];
  let back: Record<string, unknown>;
  try {
    back = type.toObject(type.fromObject(obj as Record<string, unknown>), {
      longs: String,
      enums: Number,
      arrays: true,
    });
  } catch (err) {
    return [`${path}: ${(err as Error).message}`];
  }
  const out: string[] = [];
  jsonDiff(obj, back, path, out);
  return out;
}

function jsonDiff(sent: unknown, read: unknown, path: string, out: string[]): void {
  if (Array.isArray(sent)) {
    if (!Array.isArray(read)) out.push(`${path}: an array for a field that is not repeated`);
    else for (const [i, v] of sent.entries()) jsonDiff(v, read[i], `${path}[${i}]`, out);
    return;
  }
  if (typeof sent === 'object' && sent !== null) {
    if (typeof read !== 'object' || read === null || Array.isArray(read)) {
      out.push(`${path}: an object for a field that is not a message`);
      return;
    }
    for (const [key, v] of Object.entries(sent)) {
      if (!Object.hasOwn(read, key)) out.push(`${path}.${key}: not a field (lowerCamelCase names only)`);
      else jsonDiff(v, (read as Record<string, unknown>)[key], `${path}.${key}`, out);
    }
    return;
  }
  if (sent === read) return;
  // A 64-bit integer as a JSON number is accepted by receivers (the agent sends strings).
  if (typeof sent === 'number' && typeof read === 'string' && String(sent) === read) return;
  out.push(
    `${path}: ${JSON.stringify(sent)} reads as ${JSON.stringify(read)} (enums are integers, 64-bit integers decimal strings)`,
  );
}

/** Attributes (KeyValue list) as a plain map of their values. */
export function attrs(
  list: { key: string; value: Record<string, unknown> }[] | undefined,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of list ?? []) {
    const v = kv.value ?? {};
    out[kv.key] = v.stringValue ?? v.intValue ?? v.boolValue ?? v.doubleValue;
  }
  return out;
}

/** Every log record of the received exports, with its resource attributes. */
export function otlpRecords(exports: OtlpRequest[]) {
  const out: {
    resource: Record<string, unknown>;
    body: string;
    attributes: Record<string, unknown>;
    observed: string;
  }[] = [];
  for (const e of exports) {
    for (const rl of e.resourceLogs ?? []) {
      const resource = attrs(rl.resource?.attributes);
      for (const sl of rl.scopeLogs ?? []) {
        for (const lr of sl.logRecords ?? []) {
          out.push({
            resource,
            body: lr.body?.stringValue ?? '',
            attributes: attrs(lr.attributes),
            observed: lr.observedTimeUnixNano ?? '0',
          });
        }
      }
    }
  }
  return out;
}

// -------------------------------------------------------------------------------------------- Splunk

export interface HecEvent {
  time?: number;
  host?: string;
  source?: string;
  sourcetype?: string;
  index?: string;
  event: unknown;
  fields?: Record<string, string>;
}

export interface FakeSplunk extends FakeServer {
  token: string;
  /** Indexer acknowledgement on for the token. */
  ack: boolean;
  /** Events of requests that were acknowledged as indexed (or all events when ack is off). */
  events: HecEvent[];
  /** Events received, acknowledged or not. */
  received: HecEvent[];
  /** Whether an ack id counts as indexed when asked (default: yes). */
  indexed: (ackId: number) => boolean;
  ackQueries: number;
  fault: ((req: IncomingMessage) => Fault | undefined) | null;
}

export async function startSplunk(token: string, ack: boolean, tls?: ServerOptions): Promise<FakeSplunk> {
  const pending = new Map<string, Map<number, HecEvent[]>>();
  let nextAck = 0;
  const f: FakeSplunk = {
    url: '',
    requests: [],
    violations: [],
    token,
    ack,
    events: [],
    received: [],
    indexed: () => true,
    ackQueries: 0,
    fault: null,
    close: async () => closeServer(server),
  };
  const json = (res: ServerResponse, status: number, o: unknown) =>
    reply(res, { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(o) });
  const { server, url } = await listen((req, body, res) => {
    f.requests.push({ headers: req.headers, path: req.url ?? '', body });
    const auth = req.headers.authorization;
    if (auth === undefined) return json(res, 401, { text: 'Token is required', code: 2 });
    if (auth !== `Splunk ${f.token}`) return json(res, 403, { text: 'Invalid token', code: 4 });
    const channel = req.headers['x-splunk-request-channel'];
    if (req.url === '/services/collector/ack') {
      f.ackQueries++;
      if (!f.ack) return json(res, 400, { text: 'ACK is disabled', code: 14 });
      const waiting = pending.get(String(channel));
      if (!waiting) return json(res, 400, { text: 'Invalid data channel', code: 11 });
      const { acks } = JSON.parse(body.toString('utf8')) as { acks: number[] };
      const out: Record<string, boolean> = {};
      for (const id of acks) {
        const evs = waiting.get(id);
        const done = evs !== undefined && f.indexed(id);
        if (done) {
          f.events.push(...evs);
          waiting.delete(id);
        }
        out[String(id)] = done;
      }
      return json(res, 200, { acks: out });
    }
    if (req.method !== 'POST' || req.url !== '/services/collector/event') {
      f.violations.push(`unexpected ${req.method} ${req.url}`);
      return json(res, 404, { text: 'Not found', code: 404 });
    }
    const fault = f.fault?.(req);
    if (fault) return reply(res, fault);
    if (f.ack && channel === undefined) return json(res, 400, { text: 'Data channel is missing', code: 10 });
    // The body is JSON event objects one after another (whitespace between them allowed).
    const events: HecEvent[] = [];
    const text = body.toString('utf8');
    let depth = 0;
    let start = -1;
    let inString = false;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (inString) {
        if (c === '\\') i++;
        else if (c === '"') inString = false;
        continue;
      }
      if (c === '"') inString = true;
      else if (c === '{') {
        if (depth++ === 0) start = i;
      } else if (c === '}') {
        if (--depth === 0) events.push(JSON.parse(text.slice(start, i + 1)) as HecEvent);
      }
    }
    if (events.length === 0) return json(res, 400, { text: 'No data', code: 5 });
    for (const e of events) {
      if (e.event === undefined) return json(res, 400, { text: 'Event field is required', code: 12 });
      if (e.time !== undefined && typeof e.time !== 'number')
        f.violations.push(`time is not a number: ${e.time}`);
      if (e.fields)
        for (const v of Object.values(e.fields)) if (typeof v !== 'string') f.violations.push('field value');
    }
    f.received.push(...events);
    if (!f.ack) {
      f.events.push(...events);
      return json(res, 200, { text: 'Success', code: 0 });
    }
    const id = nextAck++;
    const ch = String(channel);
    if (!pending.has(ch)) pending.set(ch, new Map());
    pending.get(ch)!.set(id, events);
    json(res, 200, { text: 'Success', code: 0, ackId: id });
  }, tls);
  f.url = url;
  return f;
}
