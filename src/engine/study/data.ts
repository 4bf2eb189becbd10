// The study's token data, made once and kept in the study folder (keyed by what shaped it):
//   training   blocks of seqLen tokens for every method (and the GPTQ calibration windows): the given
//              files, or — default, data-free — a corpus sampled from the uncompressed model
//   held-out   blocks of the held-out text (held-out NLL per row, texts for the similarity analysis)

import type { LoadedModel } from '../models/config';
import { CausalLM } from '../runtime/lm';
import { Blocks, loadCorpus, readTrainingDocs, sampleCorpus, tokenizeDocs } from '../train/data';
import { inputError } from '../errors';
import { modelInfo } from '../idp/bank';
import { settingsKey } from './options';
import type { StudyStore } from './store';

export interface StudyData { train: Blocks; eval: Blocks; heldout: Blocks; reused: boolean }

export async function studyData(store: StudyStore, m: LoadedModel, o: { data: string[]; heldout: string[]; seqLen: number; tokens: number; seed: number; threads: number },
  isCancelled: () => boolean, log: (s: string) => void): Promise<StudyData> {
  const tok = m.tokenizer;
  if (!tok) throw inputError('the model has no tokenizer: the study needs one for its text tasks (give --tokenizer)', m.source);
  let heldout: Blocks | undefined;
  if (o.heldout.length) {
    const h = readTrainingDocs(o.heldout);
    const ids = tokenizeDocs(h.docs, tok, m.config);
    const T = Math.min(o.seqLen, ids.length);
    if (T < 2) throw inputError('the held-out text has fewer than 2 tokens', h.files[0]);
    const all = new Blocks(ids, T);
    heldout = all.slice(0, Math.min(64, all.count));
  }
  if (o.data.length === 1 && o.data[0] === 'model') {
    const n = Math.max(16 * o.seqLen, Math.min(o.tokens, 262_144));
    const key = settingsKey({ model: modelInfo(m).weights, n, seqLen: o.seqLen, seed: o.seed });
    let ids = store.getIds('corpus', key);
    const reused = !!ids;
    if (!ids) {
      log(`sampling a ${n}-token training corpus from the uncompressed model (data-free) …`);
      ids = (await sampleCorpus(new CausalLM(m, { threads: o.threads }), tok, { tokens: n, seqLen: o.seqLen, seed: o.seed, isCancelled })).ids;
      store.putIds('corpus', key, ids);
    }
    const all = new Blocks(ids, o.seqLen);
    const nEval = Math.max(1, Math.min(32, Math.round(all.count * 0.05)));
    return { train: all.slice(0, all.count - nEval), eval: all.slice(all.count - nEval, all.count), heldout: heldout ?? all.slice(all.count - nEval, all.count), reused };
  }
  const c = loadCorpus(o.data, tok, m.config, { seqLen: o.seqLen, maxEvalBlocks: 32 });
  return { train: c.train, eval: c.eval, heldout: heldout ?? c.eval, reused: false };
}

/** Calibration windows for GPTQ: the first `samples` training blocks cut to `seqLen` tokens. */
export function calibrationWindows(train: Blocks, samples: number, seqLen: number): number[][] {
  const n = Math.min(samples, train.count);
  return Array.from({ length: n }, (_, i) => Array.from(train.get(i).subarray(0, Math.min(seqLen, train.T))));
}
