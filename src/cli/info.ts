// `idp info`: the info job (engine/jobs/info.ts) printed as `key  value` lines, or JSON.

import { describeChoice, runInfo as infoJob } from '../engine/index';
import { reportError } from './errors';

export async function runInfo(f: { model?: string; tokenizer?: string; json?: boolean }): Promise<void> {
  try {
    const r = await infoJob({ model: f.model, tokenizer: f.tokenizer });
    if (f.json) {
      process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      return;
    }
    const auto = describeChoice({ setting: 'auto', ...r.executionProviderAuto });
    const d = { ...r, executionProviderAuto: auto } as unknown as Record<string, unknown>;
    const width = Math.max(...Object.keys(d).map((k) => k.length));
    for (const [k, v] of Object.entries(d)) {
      process.stdout.write(`${k.padEnd(width)}  ${typeof v === 'object' ? JSON.stringify(v) : String(v)}\n`);
    }
  } catch (e) {
    process.exitCode = reportError(e);
  }
}
