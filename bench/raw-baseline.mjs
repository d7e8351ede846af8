// The raw baseline: read the files in large chunks and POST them unparsed, one request in flight per file.
//
// What the agent's catch-up throughput is compared with, in the same run on the same machine.
import { open } from 'node:fs/promises';
import { request } from 'undici';

const [endpoint, ...files] = process.argv.slice(2);
const CHUNK = 1024 * 1024;

async function ship(path) {
  const fh = await open(path, 'r');
  const buf = Buffer.allocUnsafe(CHUNK);
  let pos = 0;
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, CHUNK, pos);
    if (bytesRead === 0) break;
    // Whole lines only, so the collector can count them.
    const end = buf.lastIndexOf(10, bytesRead - 1) + 1;
    const res = await request(endpoint, {
      method: 'POST',
      body: buf.subarray(0, end),
      headers: { 'content-type': 'application/x-ndjson' },
    });
    await res.body.dump();
    pos += end;
  }
  await fh.close();
}

await Promise.all(files.map(ship));
