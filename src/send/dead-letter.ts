// The dead-letter file: records the collector refused for good, one NDJSON line each, with status and reason.
import { open, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';

export class DeadLetterFile {
  readonly file: string;
  private size = -1;
  records = 0;

  constructor(
    dir: string,
    private readonly maxBytes: number,
  ) {
    this.file = join(dir, 'dead-letter.ndjson');
  }

  /** Append the refused records and fsync before the caller lets the checkpoint move past them. */
  async write(body: Buffer, status: number, reason: string): Promise<number> {
    const at = new Date().toISOString();
    const prefix = `{"time":"${at}","status":${status},"reason":${JSON.stringify(reason)},"record":`;
    let out = '';
    let n = 0;
    let start = 0;
    while (start < body.length) {
      let nl = body.indexOf(0x0a, start);
      if (nl === -1) nl = body.length;
      if (nl > start) {
        out += `${prefix}${body.toString('utf8', start, nl)}}\n`;
        n++;
      }
      start = nl + 1;
    }
    const data = Buffer.from(out, 'utf8');
    if (this.size < 0)
      this.size = await stat(this.file).then(
        (s) => s.size,
        () => 0,
      );
    if (this.maxBytes > 0 && this.size > 0 && this.size + data.length > this.maxBytes) {
      await rename(this.file, `${this.file}.1`);
      this.size = 0;
    }
    const fh = await open(this.file, 'a', 0o600);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    this.size += data.length;
    this.records += n;
    return n;
  }
}
