// Data for the IDP routing experiment: stories sampled from a model (temperature 1, from BOS, each cut at
// EOS or --doc-tokens), written as JSONL (one document per line, {"text"}) in three variants — as is,
// UPPERCASE, Title Case — with disjoint training, calibration and held-out documents:
//
//   node out/scripts/idp-routing/make-data.js --model M --out DIR [--train-docs N] [--heldout-docs N] [--seed S]
//   → DIR/<variant>.train.jsonl, DIR/<variant>.heldout.jsonl, DIR/union.train.jsonl (all three, interleaved)
//
// The same source story feeds all three variants of the training files (so the variants differ only in
// surface); held-out stories are never used for training.

import * as fs from 'fs';
import * as path from 'path';
import { Command } from 'commander';
import { loadModel } from '../../src/engine/models/load';
import { CausalLM } from '../../src/engine/runtime/lm';
import { generate } from '../../src/engine/runtime/generate';
import { VARIANTS, variant } from './variants';

export async function sampleStories(modelPath: string, count: number, o: { seed: number; docTokens: number; batch?: number }): Promise<string[]> {
  const m = await loadModel(modelPath);
  const lm = new CausalLM(m, { threads: 1 });
  const bos = m.config.bosTokenId ?? m.tokenizer!.bosId!;
  const out: string[] = [];
  for (let round = 0; out.length < count; round++) {
    const res = await generate(lm, m.tokenizer, Array.from({ length: o.batch ?? 32 }, () => [bos]), {
      maxTokens: o.docTokens, temperature: 1, seed: o.seed * 7919 + round,
    });
    for (const r of res.rows) {
      const t = r.text.trim();
      if (t.length >= 40 && out.length < count) out.push(t);
    }
  }
  await lm.release();
  return out;
}

const writeJsonl = (file: string, docs: string[]) => fs.writeFileSync(file, docs.map((text) => JSON.stringify({ text })).join('\n') + '\n');

export async function makeData(o: { model: string; out: string; trainDocs: number; heldoutDocs: number; seed: number; docTokens: number; log?: (s: string) => void }): Promise<void> {
  fs.mkdirSync(o.out, { recursive: true });
  o.log?.(`sampling ${o.trainDocs + o.heldoutDocs} stories from ${o.model} …`);
  const stories = await sampleStories(o.model, o.trainDocs + o.heldoutDocs, { seed: o.seed, docTokens: o.docTokens });
  const train = stories.slice(0, o.trainDocs);
  const heldout = stories.slice(o.trainDocs);
  const union: string[] = [];
  for (const v of VARIANTS) {
    writeJsonl(path.join(o.out, `${v}.train.jsonl`), train.map((s) => variant(s, v)));
    writeJsonl(path.join(o.out, `${v}.heldout.jsonl`), heldout.map((s) => variant(s, v)));
  }
  // the union interleaves the variants of different stories (story k in variant k mod 3): same size as one variant
  train.forEach((s, k) => union.push(variant(s, VARIANTS[k % VARIANTS.length])));
  writeJsonl(path.join(o.out, 'union.train.jsonl'), union);
}

if (require.main === module) {
  const p = new Command()
    .requiredOption('--model <path>')
    .requiredOption('--out <dir>')
    .option('--train-docs <n>', 'training stories (each written in every variant)', Number, 900)
    .option('--heldout-docs <n>', 'held-out stories', Number, 120)
    .option('--doc-tokens <n>', 'tokens sampled per story at most', Number, 256)
    .option('--seed <s>', 'sampling seed', Number, 1)
    .parse();
  const f = p.opts();
  makeData({ model: f.model, out: f.out, trainDocs: f.trainDocs, heldoutDocs: f.heldoutDocs, seed: f.seed, docTokens: f.docTokens, log: (s) => process.stderr.write(`${s}\n`) })
    .catch((e) => { console.error(e); process.exit(1); });
}
