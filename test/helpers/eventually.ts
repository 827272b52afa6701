/** Waiting for an end state in real time (end-to-end tests against the simulator). */

/** Polls until `check` holds; fails with the last reason it gave. */
export async function eventually(
  check: () => boolean | string | Promise<boolean | string>,
  timeoutMs = 8000,
  intervalMs = 20,
): Promise<void> {
  const t0 = Date.now();
  let last: boolean | string = false;
  for (;;) {
    last = await check();
    if (last === true) return;
    if (Date.now() - t0 > timeoutMs)
      throw new Error(`not reached within ${timeoutMs} ms${typeof last === 'string' ? ': ' + last : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
