// Wait for a condition with a deadline (no bare sleeps in tests).
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  { timeoutMs = 15_000, intervalMs = 25, what = 'condition' } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
