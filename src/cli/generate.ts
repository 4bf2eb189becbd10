// `idp generate`

import { CausalLM, defaultModelPath, generate, loadModel, promptIds, threadsFor } from '../engine/index';
import type { ProviderSetting } from '../engine/index';
import { chosenEp } from './gpu';
import { reportError } from './errors';

interface GenerateFlags {
  model?: string; tokenizer?: string; prompt: string; maxTokens: number; temperature: number;
  topK: number; topP: number; seed: number; stop: string[]; ep: ProviderSetting; threads?: number; json?: boolean;
}

export async function runGenerate(f: GenerateFlags): Promise<void> {
  try {
    const model = await loadModel(f.model ?? defaultModelPath(), { tokenizer: f.tokenizer });
    const threads = threadsFor(model, f.threads);
    const lm = new CausalLM(model, { ep: await chosenEp(f.ep), threads });
    const ids = promptIds(lm, model.tokenizer, f.prompt);
    let printed = 0;
    const r = await generate(lm, model.tokenizer, [ids], {
      maxTokens: f.maxTokens, temperature: f.temperature, topK: f.topK, topP: f.topP, seed: f.seed, stop: f.stop,
      onToken: f.json ? undefined : (_row, _id, text) => {
        // stream what is settled; hold back a trailing replacement char (an incomplete UTF-8 sequence)
        const settled = text.endsWith('\uFFFD') ? text.slice(0, text.lastIndexOf('\uFFFD')) : text;
        if (settled.length > printed) { process.stdout.write(settled.slice(printed)); printed = settled.length; }
      },
    });
    const row = r.rows[0];
    if (f.json) {
      process.stdout.write(JSON.stringify({ text: row.text, ids: row.ids, finish: row.finish, timings: r.timings }) + '\n');
    } else {
      if (row.text.length > printed) process.stdout.write(row.text.slice(printed));
      const t = r.timings;
      process.stdout.write('\n');
      process.stderr.write(`[${row.ids.length} tokens, prefill ${t.prefill_ms.toFixed(1)} ms, decode ${t.decode_tokens_per_s.toFixed(0)} tok/s, ${row.finish}]\n`);
    }
  } catch (e) {
    process.exitCode = reportError(e);
  }
}
