// Parameter counts (paper, appendix A): the paper's own figures for Llama-7b and OPT-6.7b come out of
// the formulas (prompts 26/50/100 → 0.1/0.2/0.4M, IDP 150 tokens → 0.6M, prefix 50/100 → 6.5/13.1M,
// OPT LoRA r = 2/3/4 → 4.7/7.1/9.4M), and the "trained" column equals what the training methods
// actually create on a tiny GQA model.

import * as assert from 'assert';
import * as path from 'path';
import { TINY_SPECS, writeTinyModel } from '../../helpers/oracle-models';
import { tmpDir } from '../../helpers/data';
import { loadModel } from '../../../src/engine/models/load';
import type { ModelConfig } from '../../../src/engine/models/config';
import { SoftPrompt } from '../../../src/engine/train/methods/prompt';
import { Prefix } from '../../../src/engine/train/methods/prefix';
import { Lora } from '../../../src/engine/train/methods/lora';
import { countParams } from '../../../src/engine/train/tensors';
import { formatCount, loraParams, prefixParams, promptParams } from '../../../src/engine/idp/params';

const base = { tieWordEmbeddings: false, normEps: 1e-5, activation: 'silu', maxPositions: 2048, vocabSize: 32000 } as const;
const llama7b: ModelConfig = { ...base, arch: 'llama', hfArchitecture: 'LlamaForCausalLM', modelType: 'llama', hiddenSize: 4096, numLayers: 32, numHeads: 32, numKvHeads: 32, headDim: 128, intermediateSize: 11008 };
const opt67b: ModelConfig = { ...base, arch: 'opt', hfArchitecture: 'OPTForCausalLM', modelType: 'opt', hiddenSize: 4096, numLayers: 32, numHeads: 32, numKvHeads: 32, headDim: 128, intermediateSize: 16384, vocabSize: 50272, activation: 'relu' };

describe('parameter counts (appendix A)', () => {
  it('reproduce the paper\'s figures', () => {
    assert.deepEqual([26, 50, 100].map((t) => formatCount(promptParams(llama7b, [t], 'prompt').paper)), ['0.11M', '0.20M', '0.41M']);
    const idp = promptParams(llama7b, [50, 100], 'idp');
    assert.equal(idp.paper, 150 * 4096);
    assert.equal(formatCount(idp.paper), '0.61M');
    assert.equal(idp.stored, 150 * 4096 + 2 * 32 * 4096 * 150, 'plus the K/V cache');
    assert.equal(prefixParams(llama7b, 50).paper, 6_553_600);
    assert.equal(prefixParams(llama7b, 100).paper, 13_107_200);
    assert.equal(prefixParams(llama7b, 100).trained, 2 * 13_107_200, 'keys and values');
    const targets = ['q', 'k', 'v', 'o', 'up', 'down'];
    assert.deepEqual([2, 3, 4].map((r) => formatCount(loraParams(opt67b, r, targets).paper)), ['4.72M', '7.08M', '9.44M']);
    // "8·d·r + 4·d_inter·r" per layer on Llama (q,k,v,o + two MLP matrices read as 2·(d + d_inter)·r)
    assert.equal(loraParams(llama7b, 2, ['q', 'k', 'v', 'o', 'up', 'down']).paper, 32 * 2 * (8 * 4096 + 2 * (4096 + 11008)));
  });

  it('Llama-7b LoRA: the paper\'s 4.4/6.7/8.9M come out of no module set (docs/paper-notes.md)', () => {
    const M = (n: number) => (n / 1e6).toFixed(2);
    const six = [2, 3, 4].map((r) => M(loraParams(llama7b, r, ['q', 'k', 'v', 'o', 'up', 'down']).paper));
    const seven = [2, 3, 4].map((r) => M(loraParams(llama7b, r, ['q', 'k', 'v', 'o', 'gate', 'up', 'down']).paper));
    const literal = [2, 3, 4].map((r) => M(32 * (8 * 4096 * r + 4 * 11008 * r)));   // appendix A's "8·d·r + 4·d_inter·r" as written
    assert.deepEqual(six, ['4.03', '6.05', '8.06']);
    assert.deepEqual(seven, ['5.00', '7.50', '9.99']);
    assert.deepEqual(literal, ['4.92', '7.37', '9.83']);
    for (const got of [six, seven, literal]) assert.notDeepEqual(got.map((x) => Number(x).toFixed(1)), ['4.4', '6.7', '8.9']);
    // IDP: appendix A's 150 tokens give Table 1's 0.6M, not §3.3's "around 0.8 million"; Table 3's 26 + 100 give 0.52M
    assert.equal(M(promptParams(llama7b, [50, 100], 'idp').paper), '0.61');
    assert.equal(M(promptParams(llama7b, [26, 100], 'idp').paper), '0.52');
  });

  it('the trained column is what the training methods create (GQA model)', async () => {
    const m = await loadModel(writeTinyModel(path.join(tmpDir('idp-params-'), 'm'), TINY_SPECS.llamaGqa).dir);
    const c = m.config;
    assert.equal(promptParams(c, [7], 'prompt').trained, countParams(SoftPrompt.create(m, { tokens: 7 }).params));
    assert.equal(prefixParams(c, 5).trained, countParams((await Prefix.create(m, { tokens: 5, init: 'random' })).params));
    const t = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as const;
    assert.equal(loraParams(c, 3, [...t]).trained, countParams(Lora.create(m, { rank: 3, targets: [...t] }).params));
    assert.equal(loraParams(c, 2, ['q', 'v']).trained, countParams(Lora.create(m, { rank: 2, targets: ['q', 'v'] }).params));
  });
});
