// Fixtures for the study tests: a tiny random Llama that can read text (the embedded default model's
// byte-level BPE tokenizer, vocabulary 4,096, copied beside random weights), and held-out text made of
// seeded sentences from a small word list (enough sentences and words for text_lambada and
// text_next_sentence).

import * as fs from 'fs';
import * as path from 'path';
import { writeTinyModel } from './oracle-models';
import { DEFAULT_MODEL_DIR } from './default-model';
import { mulberry32 } from './prng';

/** A 2-layer, width-32 Llama (GQA) with a real tokenizer, context `maxPositions`. */
export function writeTextModel(dir: string, o: { maxPositions?: number; hiddenSize?: number; seed?: number } = {}): string {
  const d = o.hiddenSize ?? 32;
  writeTinyModel(dir, {
    modelType: 'llama', vocabSize: 4096, hiddenSize: d, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 2 * d,
    maxPositions: o.maxPositions ?? 128, seed: o.seed ?? 21, configOverrides: { bos_token_id: 0, eos_token_id: 0 },
  });
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(DEFAULT_MODEL_DIR, f), path.join(dir, f));
  return dir;
}

const WORDS = ('the a little girl boy dog cat saw ran jumped happy sad big small red blue tree house park ball ' +
  'friend mom dad played found lost sun day night went home with and then because very').split(' ');

/** `docs` documents of `sentences` seeded sentences each (8–14 words), separated by <|endoftext|>. */
export function writeHeldoutText(file: string, o: { docs?: number; sentences?: number; seed?: number } = {}): string {
  const rnd = mulberry32(o.seed ?? 5);
  const sentence = () => {
    const n = 8 + Math.floor(rnd() * 7);
    const w = Array.from({ length: n }, () => WORDS[Math.floor(rnd() * WORDS.length)]);
    return `${w[0][0].toUpperCase()}${w[0].slice(1)} ${w.slice(1).join(' ')}.`;
  };
  const docs = Array.from({ length: o.docs ?? 3 }, () => Array.from({ length: o.sentences ?? 12 }, sentence).join(' '));
  fs.writeFileSync(file, docs.join('\n<|endoftext|>\n'));
  return file;
}
