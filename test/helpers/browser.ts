// Headless Chromium for the browser tests: the binary shipped inside the @sparticuz/chromium npm package,
// driven by playwright-core, so `npm install && npm test` needs no system browser.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Browser, chromium } from 'playwright-core';

/**
 * Headless, no sandbox (tests run as root), and nothing that reaches out on its own: the machine's network
 * is closed, and background requests (component updates, sync, metrics, QUIC) would be refused or hang.
 */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--no-default-browser-check',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-domain-reliability',
  '--no-pings',
];

let unpacked: Promise<string> | undefined;

/**
 * The path of the unpacked binary. The package unpacks into `os.tmpdir()` and afterwards trusts whatever file
 * is there, so it unpacks (in a child process, with TMPDIR set) into a fresh directory that is then renamed
 * to one named after the package's version: that directory exists only complete, and a run killed halfway
 * or another worktree unpacking at the same time cannot leave a truncated binary behind it.
 */
export function chromiumPath(): Promise<string> {
  unpacked ??= unpack();
  return unpacked;
}

async function unpack(): Promise<string> {
  const entry = import.meta.resolve('@sparticuz/chromium');
  const { version } = JSON.parse(readFileSync(new URL('../package.json', entry), 'utf8')) as {
    version: string;
  };
  const dir = join(tmpdir(), `logferry-chromium-${version}`);
  const exe = join(dir, 'chromium');
  if (existsSync(exe)) return exe;
  const staging = await mkdtemp(`${dir}.partial-`);
  try {
    // Graphics off: the tests pass --disable-gpu, so the SwiftShader libraries need not be unpacked.
    const script = `import c from ${JSON.stringify(entry)}; c.setGraphicsMode = false; process.stdout.write(await c.executablePath());`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, TMPDIR: staging },
    });
    if (stdout !== join(staging, 'chromium')) throw new Error(`unexpected Chromium path ${stdout}`);
    try {
      await rename(staging, dir);
    } catch (err) {
      // Another process renamed its complete copy first: use that one.
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || !existsSync(exe)) throw err;
    }
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return exe;
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: await chromiumPath(), args: CHROMIUM_ARGS, timeout: 30_000 });
}
