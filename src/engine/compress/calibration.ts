// Calibration data: `samples` token windows of `seqlen` tokens, reproducible from `seed`.
//   JSONL corpora (C4 …): as the GPTQ code samples C4 — a random document longer than seqlen tokens,
//     then a random window of it (documents drawn with replacement);
//   other files (WikiText-2, text, a workspace glob): the documents joined with "\n\n", tokenized as one
//     stream, random windows of it;
//   'model': sequences sampled from the uncompressed model itself (temperature 1 from BOS, no stop),
//     for models without a corpus at hand.
// A set that cannot give samples × seqlen distinct tokens is "too small" (INPUT error naming it).

import type { LoadedModel } from '../models/config';
import { inputError } from '../errors';
import { readCorpus } from '../eval/corpus';
import { isJsonl } from '../formats/json-lines';
import { CausalLM } from '../runtime/lm';
import { generate } from '../runtime/generate';
import { SamplingRng } from '../rng';
import { startTokenFor } from '../models/bos';

export interface CalibrationSpec {
  /** Files / globs, or 'model' to sample from the model. */
  sources: string[] | 'model';
  samples: number;
  seqlen: number;
  seed: number;
}

export async function calibrationSet(m: LoadedModel, spec: CalibrationSpec, threads?: number): Promise<number[][]> {
  const { samples, seqlen } = spec;
  if (!(Number.isInteger(samples) && samples >= 1)) throw inputError(`calibration samples must be a positive integer, got ${samples}`);
  if (!(Number.isInteger(seqlen) && seqlen >= 2)) throw inputError(`calibration sequence length must be an integer ≥ 2, got ${seqlen}`);
  if (seqlen > m.config.maxPositions) throw inputError(`calibration sequence length ${seqlen} exceeds the model's context of ${m.config.maxPositions}`);
  const rng = new SamplingRng(spec.seed);
  const randInt = (n: number) => Math.min(n - 1, Math.floor(rng.next() * n));
  if (spec.sources === 'model') return sampleFromModel(m, samples, seqlen, spec.seed, threads);
  const tok = m.tokenizer;
  if (!tok) throw inputError('the model has no tokenizer: calibration text cannot be tokenized (give --tokenizer, or calibrate with samples from the model)', m.source);
  if (spec.sources.length === 0) throw inputError('no calibration files given');
  const { docs, files } = readCorpus(spec.sources);
  const what = files.length === 1 ? files[0] : `${files.length} calibration files`;
  const out: number[][] = [];
  if (files.every(isJsonl)) {
    if (!docs.length) throw inputError('calibration set too small: no documents', what);
    const cache = new Map<number, number[]>();
    let tried = 0;
    let tokens = 0;
    while (out.length < samples) {
      const i = randInt(docs.length);
      let ids = cache.get(i);
      if (!ids) { ids = tok.encode(docs[i]); cache.set(i, ids); tokens += ids.length; }
      if (ids.length > seqlen) {
        const s = randInt(ids.length - seqlen);
        out.push(ids.slice(s, s + seqlen));
      } else if (++tried > 50 * samples && cache.size === docs.length) {
        throw inputError(`calibration set too small: ${out.length} of ${samples} samples found, and no other document is longer than ${seqlen} tokens (${docs.length} documents, ${tokens} tokens)`, what);
      }
    }
    return out;
  }
  const ids = tok.encode(docs.join('\n\n'));
  if (ids.length < samples * seqlen) {
    throw inputError(`calibration set too small: ${ids.length} tokens, need ${samples} samples × ${seqlen} tokens = ${samples * seqlen} (give more text, or fewer / shorter samples)`, what);
  }
  for (let k = 0; k < samples; k++) {
    const s = randInt(ids.length - seqlen + 1);
    out.push(ids.slice(s, s + seqlen));
  }
  return out;
}

async function sampleFromModel(m: LoadedModel, samples: number, seqlen: number, seed: number, threads?: number): Promise<number[][]> {
  const bos = startTokenFor(m.config, m.tokenizer);
  if (bos === undefined) throw inputError('sampling calibration data needs a BOS (or, for GPT-2, an end-of-text) token id in the config', m.source);
  const lm = new CausalLM(m, { threads });
  const out: number[][] = [];
  const batch = 16;
  for (let i = 0; i < samples; i += batch) {
    const rows = Math.min(batch, samples - i);
    const r = await generate(lm, undefined, Array.from({ length: rows }, () => [bos]), {
      maxTokens: seqlen - 1, temperature: 1, seed: seed + i, stopIds: [],
    });
    for (const row of r.rows) out.push([bos, ...row.ids]);
  }
  return out;
}
