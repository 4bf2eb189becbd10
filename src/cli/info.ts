// `idp info`

import { chooseAuto, defaultModelPath, describeChoice, describeModel, loadModel } from '../engine/index';
import { reportError } from './errors';

export async function runInfo(f: { model?: string; tokenizer?: string; json?: boolean }): Promise<void> {
  try {
    const model = await loadModel(f.model ?? defaultModelPath(), { tokenizer: f.tokenizer });
    const auto = await chooseAuto();   // what --ep auto runs this model on, and why not the others (gpu/provider-choice.ts)
    const d = { ...describeModel(model), executionProviderAuto: f.json ? { ep: auto.ep, passed: auto.passed } : describeChoice(auto) } as unknown as Record<string, unknown>;
    if (f.json) {
      process.stdout.write(JSON.stringify(d, null, 2) + '\n');
      return;
    }
    const width = Math.max(...Object.keys(d).map((k) => k.length));
    for (const [k, v] of Object.entries(d)) {
      process.stdout.write(`${k.padEnd(width)}  ${typeof v === 'object' ? JSON.stringify(v) : String(v)}\n`);
    }
  } catch (e) {
    process.exitCode = reportError(e);
  }
}
