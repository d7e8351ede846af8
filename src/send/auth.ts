// Request credentials and TLS options: extra headers, bearer token, basic auth, Splunk HEC token; secrets
// read from files (a mounted Kubernetes Secret) are re-read when the file changes. Secrets are never logged.
import { readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { ConnectionOptions } from 'node:tls';
import type { Logger } from 'pino';

export interface AuthOptions {
  headers: Record<string, string>;
  bearerToken: string;
  bearerTokenFile: string;
  basicAuthUser: string;
  basicAuthPassword: string;
  basicAuthPasswordFile: string;
  splunkToken: string;
  splunkTokenFile: string;
}

export interface TlsOptions {
  tlsCaFile: string;
  tlsCertFile: string;
  tlsKeyFile: string;
  tlsServerName: string;
  tlsInsecureSkipVerify: boolean;
}

/** How often a secret file is checked for a change, at most (it is checked before requests). */
const CHECK_EVERY_MS = 1000;

/** A secret held in a file, trimmed; re-read when the file's identity, size or mtime changes. */
export class SecretFile {
  value: string;
  private sig = '';
  private checkedAt = 0;

  constructor(
    readonly path: string,
    private readonly log: Logger,
    private readonly what: string,
  ) {
    this.value = readFileSync(path, 'utf8').trim();
  }

  /** Re-read if changed; true when the value changed. */
  async refresh(force = false): Promise<boolean> {
    const now = Date.now();
    if (!force && now - this.checkedAt < CHECK_EVERY_MS) return false;
    this.checkedAt = now;
    try {
      const s = await stat(this.path);
      const sig = `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}`;
      if (sig === this.sig && !force) return false;
      this.sig = sig;
      const v = (await readFile(this.path, 'utf8')).trim();
      if (v === this.value) return false;
      if (v === '') {
        this.log.warn(
          { file: this.path, code: 'LOGFERRY_SECRET_EMPTY' },
          `${this.what} file is empty; keeping the previous value`,
        );
        return false;
      }
      this.value = v;
      this.log.info({ file: this.path }, `${this.what} file changed; using the new value`);
      return true;
    } catch (err) {
      this.log.warn(
        { file: this.path, code: 'LOGFERRY_SECRET_UNREADABLE', error: (err as Error).message },
        `${this.what} file cannot be read; keeping the previous value`,
      );
      return false;
    }
  }
}

export class Credentials {
  private readonly bearer: SecretFile | string | null;
  private readonly password: SecretFile | string | null;
  private readonly splunk: SecretFile | string | null;
  private readonly files: SecretFile[] = [];

  constructor(
    private readonly opts: AuthOptions,
    log: Logger,
  ) {
    const pick = (value: string, file: string, what: string): SecretFile | string | null => {
      if (file) {
        const f = new SecretFile(file, log, what);
        this.files.push(f);
        return f;
      }
      return value || null;
    };
    this.bearer = pick(opts.bearerToken, opts.bearerTokenFile, 'bearer token');
    this.password = opts.basicAuthUser
      ? (pick(opts.basicAuthPassword, opts.basicAuthPasswordFile, 'basic auth password') ?? '')
      : null;
    this.splunk = pick(opts.splunkToken, opts.splunkTokenFile, 'Splunk HEC token');
  }

  /** Re-read secret files that changed (at most once a second unless forced); true if any changed. */
  async refresh(force = false): Promise<boolean> {
    let changed = false;
    for (const f of this.files) if (await f.refresh(force)) changed = true;
    return changed;
  }

  /** Extra headers and the Authorization header, for one request. */
  headers(): Record<string, string> {
    const h: Record<string, string> = { ...this.opts.headers };
    const v = (s: SecretFile | string) => (typeof s === 'string' ? s : s.value);
    if (this.splunk !== null) h.authorization = `Splunk ${v(this.splunk)}`;
    else if (this.bearer !== null) h.authorization = `Bearer ${v(this.bearer)}`;
    else if (this.password !== null) {
      const raw = `${this.opts.basicAuthUser}:${v(this.password)}`;
      h.authorization = `Basic ${Buffer.from(raw, 'utf8').toString('base64')}`;
    }
    return h;
  }
}

/** TLS options for the HTTPS agent; certificate files are read once at start. */
export function tlsConnectOptions(opts: TlsOptions, log: Logger): ConnectionOptions {
  const o: ConnectionOptions = {};
  if (opts.tlsCaFile) o.ca = readFileSync(opts.tlsCaFile);
  if (opts.tlsCertFile) o.cert = readFileSync(opts.tlsCertFile);
  if (opts.tlsKeyFile) o.key = readFileSync(opts.tlsKeyFile);
  if (opts.tlsServerName) o.servername = opts.tlsServerName;
  if (opts.tlsInsecureSkipVerify) {
    o.rejectUnauthorized = false;
    log.warn(
      { code: 'LOGFERRY_TLS_INSECURE' },
      'TLS CERTIFICATE VERIFICATION IS OFF (LOGFERRY_TLS_INSECURE_SKIP_VERIFY=true): anyone on the path can ' +
        'read and change the logs and credentials sent; use LOGFERRY_TLS_CA_FILE instead',
    );
  } else {
    o.rejectUnauthorized = true;
  }
  return o;
}
