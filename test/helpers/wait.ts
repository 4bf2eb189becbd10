// The one wait of the VS Code tests (extension host and browser): poll a condition until it holds or
// a deadline passes, then fail saying what was awaited. Tests never wait a fixed time: on a loaded
// machine any fixed time is too short somewhere, and where it is long enough it only slows the suite.

/** The pause between two polls; the only timer a test waits on. */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Resolves with the first value of `poll` that is neither undefined nor false; throws
 * "timed out after MS ms waiting for WHAT" when none came within `ms`.
 */
export async function waitFor<T>(what: string, poll: () => T | undefined | false | Promise<T | undefined | false>, ms = 30000, everyMs = 50): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await poll();
    if (v !== undefined && v !== false) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
