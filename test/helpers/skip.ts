// The one way a test skips (issue 16): every skip carries its reason, which the reporters print under
// the skipped test's "- title" line (scripts/test-reporter.js, test/integration/index.ts), and a
// prerequisite that CI is given (.ci/run: staged data via IDP_DATA, code-server + Chromium, Mesa's
// Vulkan device for WebGPU) fails there instead of skipping, so a broken CI setup cannot pass quietly.
// Things no CI machine has (a CUDA GPU, a non-Linux OS's absence of glibc) use skipBecause: they
// keep skipping on CI too, still saying why.

/** Thrown in place of a skip when CI lacks something it is meant to have. */
export class MissingPrerequisiteError extends Error {
  constructor(readonly what: string) {
    super(`prerequisite missing on CI (CI=${process.env.CI}): ${what}`);
    this.name = 'MissingPrerequisiteError';
  }
}

// where the reason is kept on the mocha runnable (or, for a skip from a before-all hook, its suite)
const REASON = Symbol.for('idp.skipReason');
type Tagged = { [REASON]?: string; parent?: Tagged };

/** CI is on when CI is set to anything but '' / 'false' / '0' (GitHub, GitLab and others set CI=true). */
export function onCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = (env.CI ?? '').trim().toLowerCase();
  return v !== '' && v !== 'false' && v !== '0';
}

/**
 * Skips the calling test (or, from a hook, its suite) with the reason, on every machine including CI:
 * only for what is legitimately machine-dependent.
 */
export function skipBecause(ctx: Mocha.Context, reason: string): never {
  const r = ctx.runnable() as unknown as Tagged & { type?: string };
  // a before-all hook's skip marks its suite's tests pending: keep the reason where they can find it
  const holder = r.type === 'hook' && r.parent ? r.parent : r;
  holder[REASON] = reason;
  ctx.skip();
  throw new Error('unreachable: mocha skip returned'); // ctx.skip() throws mocha's Pending
}

/** Skips (saying why) unless the condition holds; machine-dependent conditions only, as skipBecause. */
export function skipUnless(ctx: Mocha.Context, condition: boolean, reason: string): void {
  if (!condition) skipBecause(ctx, reason);
}

/**
 * A prerequisite CI always has: `missing` says what is missing, or is undefined when it is there.
 * Missing on CI throws MissingPrerequisiteError; elsewhere the test skips with that reason.
 */
export function requirePrereq(ctx: Mocha.Context, missing: string | undefined): void {
  if (missing === undefined) return;
  if (onCi()) throw new MissingPrerequisiteError(missing);
  skipBecause(ctx, missing);
}

/** The reason a pending test was skipped: its own, else the nearest suite's; undefined when none was given. */
export function skipReason(test: unknown): string | undefined {
  for (let t = test as Tagged | undefined; t; t = t.parent) if (t[REASON] !== undefined) return t[REASON];
  return undefined;
}
