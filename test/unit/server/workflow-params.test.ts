// The jobs' option checks as the engine process runs them (absolute paths; the wire is untyped at run
// time): unknown keys, missing required options, wrong types and ranges are refused with an input error
// naming the job and the option; good options pass.

import { strict as assert } from 'assert';
import { IdpError } from '../../../src/engine/errors';
import { checkCompressOptions } from '../../../src/engine/jobs/compress';
import { checkTrainBankOptions } from '../../../src/engine/jobs/bank-train';
import { checkTrainOptions } from '../../../src/engine/jobs/train';
import { checkBenchOptions } from '../../../src/engine/jobs/bench';
import { checkStudyOptions } from '../../../src/engine/jobs/study';
import { checkGenerateParams } from '../../../src/server/engine-service';

// the engine process's rule: every path absolute
const checkCompressParams = (p: never) => checkCompressOptions(p, true);
const checkTrainBankParams = (p: never) => checkTrainBankOptions(p, true);
const checkTrainBaselineParams = (p: never) => checkTrainOptions(p, true);
const checkBenchParams = (p: never) => checkBenchOptions(p, true);
const checkStudyParams = (p: never) => checkStudyOptions(p, true);

const refuses = (fn: () => void, re: RegExp) => assert.throws(fn, (e: unknown) => {
  assert.ok(e instanceof IdpError, `an IdpError, got ${e}`);
  assert.equal(e.code, 'INPUT');
  assert.match(e.message, re);
  return true;
});

const any = (x: unknown) => x as never;

describe('server: workflow parameter checks', () => {
  describe('compress', () => {
    const ok = { model: '/m', method: 'gptq', out: '/o', bits: 4, calib: 'model', samples: 4, seqlen: 64, groupSize: 64 };
    it('accepts good parameters', () => {
      checkCompressParams(any(ok));
      checkCompressParams(any({ model: '/m', method: 'rtn', out: '/o', bits: 4, groupSize: -1 }));
      checkCompressParams(any({ model: '/m', method: 'sparsegpt', out: '/o', pattern: '2:4', calib: ['/data/*.txt'] }));
      checkCompressParams(any({ model: '/m', method: 'magnitude', out: '/o', sparsity: 0.5 }));
      checkCompressParams(any({ method: 'rtn', out: '/o', bits: 4, tokenizer: '/t/tokenizer.bin' }));   // the default model
      // a Hugging Face Hub id is a model too (resolved in the HF cache by the engine)
      checkCompressParams(any({ ...ok, model: 'Qwen/Qwen2.5-0.5B@main' }));
    });
    it('refuses unknown keys, like the other requests', () => {
      refuses(() => checkCompressParams(any({ ...ok, bitz: 4 })), /^compress: unknown parameter 'bitz'/);
      refuses(() => checkCompressParams(any({ ...ok, a: 1, b: 2 })), /unknown parameters 'a', 'b'/);
      refuses(() => checkCompressParams(any(null)), /parameters must be an object/);
      refuses(() => checkCompressParams(any([ok])), /parameters must be an object/);
    });
    it('refuses missing, mistyped and out-of-range values, naming them', () => {
      refuses(() => checkCompressParams(any({ ...ok, out: undefined })), /out is required/);
      refuses(() => checkCompressParams(any({ ...ok, tokenizer: 'tokenizer.bin' })), /tokenizer must be an absolute path/);
      refuses(() => checkCompressParams(any({ ...ok, model: 'relative/dir/model' })), /model must be an absolute path or a Hugging Face Hub id/);
      refuses(() => checkCompressParams(any({ ...ok, model: './model' })), /model must be an absolute path/);
      refuses(() => checkCompressParams(any({ ...ok, method: 'awq' })), /method must be one of rtn, gptq, sparsegpt, magnitude, got "awq"/);
      refuses(() => checkCompressParams(any({ ...ok, bits: 5 })), /bits must be one of 2, 3, 4, 8, got 5/);
      refuses(() => checkCompressParams(any({ ...ok, groupSize: 0 })), /groupSize must be an integer ≥ 1/);
      refuses(() => checkCompressParams(any({ ...ok, samples: 1.5 })), /samples must be an integer/);
      refuses(() => checkCompressParams(any({ ...ok, sym: 'yes' })), /sym must be true or false/);
      refuses(() => checkCompressParams(any({ ...ok, calib: [] })), /calib must be 'model' or a non-empty array/);
      refuses(() => checkCompressParams(any({ ...ok, calib: undefined })), /method gptq needs calib/);
      refuses(() => checkCompressParams(any({ ...ok, bits: undefined })), /method gptq needs bits/);
      refuses(() => checkCompressParams(any({ model: '/m', method: 'magnitude', out: '/o', sparsity: 1 })), /sparsity must be a number in \[0, 1\)/);
      refuses(() => checkCompressParams(any({ model: '/m', method: 'magnitude', out: '/o' })), /needs sparsity or pattern/);
      refuses(() => checkCompressParams(any({ model: '/m', method: 'magnitude', out: '/o', pattern: '2-4' })), /pattern must be 'N:M'/);
      refuses(() => checkCompressParams(any({ ...ok, progressToken: 't' })), /unknown parameter 'progressToken'/);   // the engine process takes it off
    });
  });

  describe('trainBank', () => {
    const ok = { model: '/m', data: 'model', tokens: 1024, out: '/b', prompts: [4, 8], seqlen: 64, batch: 4, sampleTokens: 1024 };
    it('accepts good parameters', () => {
      checkTrainBankParams(any(ok));
      checkTrainBankParams(any({ ...ok, data: ['/ws/**/*.ts'], eval: ['/ws/held.txt'], score: 'mean', selectionLayer: 1, promptInit: 'random', lr: 1e-3 }));
    });
    it('refuses unknown keys and bad values', () => {
      refuses(() => checkTrainBankParams(any({ ...ok, prompt: [4] })), /^bank train: unknown parameter 'prompt'/);
      refuses(() => checkTrainBankParams(any({ ...ok, prompts: [] })), /prompts must be a non-empty array of prompt lengths/);
      refuses(() => checkTrainBankParams(any({ ...ok, prompts: [4, 0] })), /prompts must be/);
      refuses(() => checkTrainBankParams(any({ ...ok, tokens: 0 })), /tokens must be an integer ≥ 1/);
      refuses(() => checkTrainBankParams(any({ ...ok, data: 'corpus.txt' })), /data must be 'model' or a non-empty array/);
      refuses(() => checkTrainBankParams(any({ ...ok, data: ['corpus.txt'] })), /data must be 'model' or a non-empty array of absolute files/);
      refuses(() => checkTrainBankParams(any({ ...ok, score: 'max' })), /score must be one of mass, mean/);
      refuses(() => checkTrainBankParams(any({ ...ok, lr: 0 })), /lr must be a number in \(0, 10\]/);
    });
    it('promptData: one source per prompt (null: the shared data); data may be left out when every prompt has its own', () => {
      checkTrainBankParams(any({ ...ok, data: undefined, promptData: [['/ws/a.jsonl'], 'model'] }));
      checkTrainBankParams(any({ ...ok, promptData: [['/ws/a.jsonl'], null] }));
      refuses(() => checkTrainBankParams(any({ ...ok, data: undefined, promptData: [['/ws/a.jsonl'], null] })), /give training data with --data/);
      refuses(() => checkTrainBankParams(any({ ...ok, promptData: [['a.jsonl']] })), /promptData must be a non-empty array with, per prompt/);
      refuses(() => checkTrainBankParams(any({ ...ok, promptData: ['model', 'model', 'model'] })), /3 --prompt-data for 2 prompts: give at most one per prompt/);
    });
  });

  describe('trainBaseline', () => {
    const ok = { model: '/m', data: 'model', tokens: 1024, out: '/r', method: 'lora', rank: 2, targets: ['q', 'v'] };
    it('accepts good parameters', () => {
      checkTrainBaselineParams(any(ok));
      checkTrainBaselineParams(any({ model: '/m', data: 'model', tokens: 64, out: '/r', method: 'prefix', promptTokens: 8 }));
    });
    it('refuses unknown keys, settings of another method, bad targets', () => {
      refuses(() => checkTrainBaselineParams(any({ ...ok, ranks: 2 })), /^train: unknown parameter 'ranks'/);
      refuses(() => checkTrainBaselineParams(any({ ...ok, method: 'dora' })), /method must be one of prompt, prefix, lora, full/);
      refuses(() => checkTrainBaselineParams(any({ ...ok, targets: ['q', 'attn'] })), /unknown target 'attn' \(--targets: use q, k, v, o, gate, up, down\)/);
      refuses(() => checkTrainBaselineParams(any({ ...ok, method: 'prompt' })), /rank, alpha, dropout and targets are LoRA settings/);
      refuses(() => checkTrainBaselineParams(any({ ...ok, promptTokens: 8 })), /promptTokens and promptInit are prompt \/ prefix settings/);
      refuses(() => checkTrainBaselineParams(any({ ...ok, data: undefined })), /give training data with --data/);
    });
  });

  describe('bench', () => {
    const ok = { model: '/m', tasks: ['text_lambada'], heldout: ['/ws/held.txt'], limit: 8, out: '/r/bench.json' };
    it('accepts good parameters', () => {
      checkBenchParams(any(ok));
      checkBenchParams(any({ ...ok, bank: '/b', seed: 1, choices: 4, label: 'IDP', selectionLayer: 1, score: 'mean', ep: 'cpu', threads: 2 }));
    });
    it('refuses unknown keys, adapter with bank, a bad output name', () => {
      refuses(() => checkBenchParams(any({ ...ok, task: 'x' })), /^bench: unknown parameter 'task'/);
      refuses(() => checkBenchParams(any({ ...ok, adapter: '/a', bank: '/b' })), /adapter or bank, not both/);
      refuses(() => checkBenchParams(any({ ...ok, score: 'mass' })), /selectionLayer and score need a bank/);
      refuses(() => checkBenchParams(any({ ...ok, ep: 'tpu' })), /ep must be one of cpu, webgpu, cuda/);
      refuses(() => checkBenchParams(any({ ...ok, out: '/r/bench.txt' })), /out must be a path ending in \.json/);
      refuses(() => checkBenchParams(any({ ...ok, tasks: 'text_lambada' })), /tasks must be a non-empty array of task names/);
      refuses(() => checkBenchParams(any({ ...ok, tasks: ['a,b'] })), /tasks must be/);
      refuses(() => checkBenchParams(any({ ...ok, limit: 0 })), /limit must be an integer ≥ 1/);
      refuses(() => checkBenchParams(any({ ...ok, heldout: ['held.txt'] })), /heldout must be a non-empty array of absolute files/);
    });
  });

  describe('study', () => {
    const ok = { model: '/m', compress: 'gptq:4', methods: ['none', 'idp'], tokens: 512, tasks: ['text_ppl'], heldout: ['/h.txt'], out: '/s' };
    it('accepts good parameters', () => {
      checkStudyParams(any(ok));
      checkStudyParams(any({ ...ok, data: ['model'], latency: false, similarity: { samples: 2 }, limit: 4, score: 'mean' }));
    });
    it('refuses unknown keys and bad values before runStudy sees them', () => {
      refuses(() => checkStudyParams(any({ ...ok, method: ['idp'] })), /^study: unknown parameter 'method'/);
      refuses(() => checkStudyParams(any({ ...ok, methods: [] })), /methods must be a non-empty array/);
      refuses(() => checkStudyParams(any({ ...ok, compress: undefined })), /compress is required/);
      refuses(() => checkStudyParams(any({ ...ok, out: 'rel' })), /out must be an absolute path/);
      refuses(() => checkStudyParams(any({ ...ok, tokens: -1 })), /tokens must be an integer ≥ 1/);
    });
    it('a preset fills what is left out; a given compressed model needs no compress spec', () => {
      checkStudyParams(any({ model: '/m', out: '/s', preset: 'paper' }));
      checkStudyParams(any({ ...ok, compress: undefined, compressed: '/elsewhere/gptq4', weightDecay: 0 }));
      refuses(() => checkStudyParams(any({ model: '/m', out: '/s', preset: 'table2' })), /preset must be one of/);
      refuses(() => checkStudyParams(any({ ...ok, compressed: 'rel' })), /compressed must be an absolute path/);
      refuses(() => checkStudyParams(any({ model: '/m', out: '/s' })), /compress is required/);
    });
  });

  describe('generate with a bank', () => {
    it('takes a bank folder, refuses anything else', () => {
      checkGenerateParams(any({ prompt: 'x', bank: '/lab/runs/r/bank' }));
      refuses(() => checkGenerateParams(any({ prompt: 'x', bank: 3 })), /generate: bank must be a prompt bank folder/);
      refuses(() => checkGenerateParams(any({ prompt: 'x', bank: ' ' })), /bank must be/);
    });
  });
});
