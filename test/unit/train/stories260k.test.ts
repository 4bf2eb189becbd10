// On a real pretrained model: stories260K (trained on children's stories) handles WikiText badly.
// Prompt tuning and LoRA, each with a short seeded run, must lower the held-out WikiText loss.

import * as assert from 'assert';
import * as path from 'path';
import { dataPath, STORIES, tmpDir } from '../../helpers/data';
import { loadModel } from '../../../src/engine/models/load';
import type { LoadedModel } from '../../../src/engine/models/config';
import { Corpus, loadCorpus } from '../../../src/engine/train/data';
import { DEFAULT_SETTINGS, runTraining } from '../../../src/engine/train/trainer';
import { SoftPrompt } from '../../../src/engine/train/methods/prompt';
import { Lora } from '../../../src/engine/train/methods/lora';

const root = tmpDir('idp-stories-train-');

describe('stories260K: recovery methods lower the held-out loss on WikiText', function () {
  let m: LoadedModel;
  let corpus: Corpus;
  before(async function () {
    const model = dataPath(this, ...STORIES, 'stories260K.gguf');
    const wiki = dataPath(this, 'corpora', 'wikitext2', 'wikitext-2-raw-v1.test.joined.txt');
    m = await loadModel(model, { cacheDir: path.join(root, 'cache') });
    corpus = loadCorpus([wiki], m.tokenizer!, m.config, { seqLen: 64, maxEvalBlocks: 16 });
  });

  const settings = { ...DEFAULT_SETTINGS, seqLen: 64, batchSize: 8, tokens: 64 * 8 * 30, warmup: 3, lr: 1e-2, seed: 1 };

  it('prompt tuning (16 tokens)', async () => {
    const r = await runTraining({ method: SoftPrompt.create(m, { tokens: 16, seed: 1 }), data: corpus, out: path.join(root, 'prompt'), settings, session: { threads: 1 } });
    assert.ok(r.evalLoss! < r.initialEvalLoss! - 0.2, `held-out loss ${r.initialEvalLoss!.toFixed(3)} → ${r.evalLoss!.toFixed(3)}`);
  });

  it('LoRA (rank 8 on q, k, v, o, gate, up, down)', async () => {
    const lora = Lora.create(m, { rank: 8, targets: ['q', 'k', 'v', 'o', 'gate', 'up', 'down'], seed: 1 });
    const r = await runTraining({ method: lora, data: corpus, out: path.join(root, 'lora'), settings, session: { threads: 1 } });
    assert.ok(r.evalLoss! < r.initialEvalLoss! - 0.5, `held-out loss ${r.initialEvalLoss!.toFixed(3)} → ${r.evalLoss!.toFixed(3)}`);
  });
});
