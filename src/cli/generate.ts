// `idp generate`: flags → the generate job's options (engine/jobs/generate.ts); the continuation streamed to
// stdout as it settles, or one JSON object.

import { inputError, runGenerate as generateJob } from '../engine/index';
import type { FimChoice, ProviderSetting } from '../engine/index';
import { reportError } from './errors';

interface GenerateFlags {
  model?: string; tokenizer?: string; prompt: string; ids?: number[]; fimSuffix?: string; fimTemplate?: FimChoice; maxTokens?: number; temperature?: number; topK?: number; topP?: number; seed?: number;
  stop: string[]; bank?: string; ep: ProviderSetting; threads?: number; json?: boolean;
}

export async function runGenerate(f: GenerateFlags): Promise<void> {
  try {
    if (f.ids && (f.prompt !== '' || f.fimSuffix !== undefined)) throw inputError('--ids takes the place of --prompt and --fim-suffix');
    if (f.fimTemplate !== undefined && f.fimSuffix === undefined) throw inputError('--fim-template needs --fim-suffix');
    const input = f.ids ? { ids: f.ids }
      : f.fimSuffix !== undefined ? { fim: { prefix: f.prompt, suffix: f.fimSuffix, ...(f.fimTemplate ? { template: f.fimTemplate } : {}) } }
        : { prompt: f.prompt };
    let printed = 0;
    let inputIds: number[] = [];
    const r = await generateJob({
      model: f.model, tokenizer: f.tokenizer, threads: f.threads, ep: f.ep, ...input, maxTokens: f.maxTokens, temperature: f.temperature,
      topK: f.topK, topP: f.topP, seed: f.seed, stop: f.stop.length ? f.stop : undefined, bank: f.bank,
    }, {
      onWarning: (w) => process.stderr.write(`idp: ${w}\n`),
      onInput: (ids) => { inputIds = ids; },
      onProgress: f.json ? undefined : (p) => {
        // stream what is settled; hold back a trailing replacement char (an incomplete UTF-8 sequence)
        const settled = p.text.endsWith('\uFFFD') ? p.text.slice(0, p.text.lastIndexOf('\uFFFD')) : p.text;
        if (settled.length > printed) { process.stdout.write(settled.slice(printed)); printed = settled.length; }
      },
    });
    if (f.json) {
      process.stdout.write(JSON.stringify({ ...r, input: inputIds }) + '\n');
    } else {
      if (r.text.length > printed) process.stdout.write(r.text.slice(printed));
      const t = r.timings;
      process.stdout.write('\n');
      const pick = r.idp ? `, IDP picked prompt ${r.idp.selected} (${r.idp.n} tokens)` : '';
      process.stderr.write(`[${r.ids.length} tokens, prefill ${t.prefill_ms.toFixed(1)} ms, decode ${t.decode_tokens_per_s.toFixed(0)} tok/s, ${r.finish}${pick}]\n`);
    }
  } catch (e) {
    process.exitCode = reportError(e);
  }
}
