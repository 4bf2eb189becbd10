// Soft prompt (prompt tuning, Lester et al.): n trainable embeddings [n, e] take the place of the
// first n token embeddings of every row (the rows carry n placeholder ids there and no labels), so the
// prompt gets positions 0…n−1 and the text starts at n. PEFT PROMPT_TUNING import/export.
//
// Init (PEFT's names): 'vocab' (SAMPLE_VOCAB: rows of randomly drawn vocabulary tokens), 'text'
// (TEXT: the embeddings of a text's tokens, repeated to n), 'random' (RANDOM: normal with the
// embedding table's standard deviation — PEFT uses N(0, 1), far off the scale of real embeddings).

import * as ort from 'onnxruntime-node';
import type { LoadedModel, ModelConfig } from '../../models/config';
import { family } from '../../models/arch/registry';
import { readTensorF32 } from '../../formats/safetensors';
import type { Tokenizer } from '../../tokenizers/tokenizer';
import { formatError, inputError } from '../../errors';
import { Rng } from '../../rng';
import type { TensorSet } from '../tensors';
import { baseConfig, intField, readAdapter, writeAdapter } from '../peft';
import { addInto, MicroBatch, RowLayout, TrainMethod } from './method';
import type { TrainGraphOptions } from '../graph';
import { dequantizedModel } from '../../models/quant/gptq-load';

export const PROMPT_INPUT = 'soft_prompt';

export type PromptInit = 'vocab' | 'text' | 'random';
const PEFT_INIT: Record<PromptInit, string> = { vocab: 'SAMPLE_VOCAB', text: 'TEXT', random: 'RANDOM' };

/** The token embedding table of a model's family and its width. */
export function tokenEmbedding(cfg: ModelConfig): { name: string; width: number } {
  return family(cfg).tokenEmbedding(cfg);
}

export interface PromptOptions {
  tokens: number;
  init?: PromptInit;
  text?: string;
  seed?: number;
  tokenizer?: Tokenizer;
  /** First position of the prompt (IDP bank layout: N − n); default 0. */
  positionStart?: number;
}

export class SoftPrompt implements TrainMethod {
  readonly kind = 'prompt' as const;
  readonly params: TensorSet;
  readonly layout: RowLayout;

  constructor(readonly model: LoadedModel, embeddings: Float32Array, readonly n: number, readonly init: PromptInit = 'random',
    readonly initText?: string, positionStart = 0) {
    const e = tokenEmbedding(model.config).width;
    if (embeddings.length !== n * e) throw new Error(`soft prompt: ${embeddings.length} values for [${n}, ${e}]`);
    this.params = new Map([[PROMPT_INPUT, { data: embeddings, shape: [n, e] }]]);
    this.layout = { promptSlots: n, pastLen: 0, positionStart };
  }

  static create(m: LoadedModel, o: PromptOptions): SoftPrompt {
    const n = o.tokens;
    if (!(Number.isInteger(n) && n >= 1)) throw inputError(`--prompt-tokens must be a positive integer, got ${n}`);
    if (n >= m.config.maxPositions) throw inputError(`a ${n}-token prompt leaves no room in the model's context of ${m.config.maxPositions}`);
    const { name, width: e } = tokenEmbedding(m.config);
    // a tied head stored quantized stands for the table: its dequantized copy (what training on GPTQ models reads)
    const table = readTensorF32(m.weights.get(name) ?? dequantizedModel(m).weights.get(name)!);
    const V = m.config.vocabSize;
    const rng = Rng.for(o.seed ?? 0, 'prompt-init');
    const out = new Float32Array(n * e);
    const init = o.init ?? 'vocab';
    const copyRow = (i: number, id: number) => out.set(table.subarray(id * e, (id + 1) * e), i * e);
    if (init === 'vocab') {
      for (let i = 0; i < n; i++) copyRow(i, rng.int(V));
    } else if (init === 'text') {
      if (!o.text) throw inputError('prompt init "text" needs --prompt-init-text');
      if (!o.tokenizer) throw inputError('prompt init "text" needs a tokenizer for this model');
      const ids = o.tokenizer.encode(o.text);
      if (ids.length === 0) throw inputError('the prompt init text encodes to no tokens');
      for (let i = 0; i < n; i++) copyRow(i, ids[i % ids.length]);
    } else {
      let s = 0;
      for (const v of table) s += v * v;
      const std = Math.sqrt(s / table.length);
      for (let i = 0; i < out.length; i++) out[i] = rng.normal() * std;
    }
    return new SoftPrompt(m, out, n, init, o.text, o.positionStart);
  }

  /** Import a PEFT PROMPT_TUNING adapter folder. */
  static load(m: LoadedModel, dir: string): SoftPrompt {
    const a = readAdapter(dir, ['PROMPT_TUNING']);
    const n = intField(a, 'num_virtual_tokens');
    const sub = intField(a, 'num_transformer_submodules', 1);
    if (sub !== 1) throw formatError(a.configFile, `num_transformer_submodules is ${sub}; a causal LM uses 1`);
    const e = tokenEmbedding(m.config).width;
    const td = intField(a, 'token_dim');
    if (td !== e) throw formatError(a.configFile, `token_dim ${td} does not match this model's embedding width ${e} (an adapter for another model?)`);
    const t = a.tensors.get('prompt_embeddings');
    if (!t) throw formatError(a.weightsFile, "no 'prompt_embeddings' tensor");
    if (t.shape.length !== 2 || t.shape[0] !== n || t.shape[1] !== e) {
      throw formatError(a.weightsFile, `'prompt_embeddings' has shape [${t.shape.join(', ')}], expected [${n}, ${e}]`);
    }
    const initName = Object.entries(PEFT_INIT).find(([, v]) => v === a.config.prompt_tuning_init)?.[0] as PromptInit | undefined;
    const text = typeof a.config.prompt_tuning_init_text === 'string' ? a.config.prompt_tuning_init_text : undefined;
    return new SoftPrompt(m, t.data, n, initName ?? 'random', text);
  }

  graphOptions(): TrainGraphOptions {
    const n = this.n;
    const e = tokenEmbedding(this.model.config).width;
    return {
      params: [PROMPT_INPUT],
      build: {
        hooks: {
          // x [B, T, e] → [prompt ; x[:, n:]]: the first n rows of every sequence become the prompt
          tokenEmbeds: (g, x) => {
            const p = g.input(PROMPT_INPUT, 'float', [n, e]);                                       // [n, e]
            const rest = g.slice(x, [n], [Number.MAX_SAFE_INTEGER], [1], 'rest');                    // [B, T−n, e]
            const shape = g.concat([g.op('Shape', [x], { start: 0, end: 1 }), g.ints([n, e])], 0, 'prompt_shape');
            const pb = g.op('Expand', [g.unsqueeze(p, [0]), shape], {}, 'prompt');                 // [B, n, e]
            return g.concat([pb, rest], 1, 'with_prompt');                                           // [B, T, e]
          },
        },
      },
    };
  }

  feeds(): Record<string, ort.Tensor> {
    const p = this.params.get(PROMPT_INPUT)!;
    return { [PROMPT_INPUT]: new ort.Tensor('float32', p.data, p.shape) };
  }

  accumulate(out: ort.InferenceSession.OnnxValueMapType, grads: TensorSet): void {
    addInto(grads.get(PROMPT_INPUT)!.data, out[`grad.${PROMPT_INPUT}`].data as Float32Array);
  }

  decays(): boolean {
    return true;
  }

  describe(): Record<string, unknown> {
    return { method: 'prompt', tokens: this.n, init: this.init, positionStart: this.layout.positionStart };
  }

  export(dir: string): void {
    const c = this.model.config;
    const e = tokenEmbedding(c).width;
    writeAdapter(dir, {
      ...baseConfig('PROMPT_TUNING', this.model),
      num_virtual_tokens: this.n,
      token_dim: e,
      num_transformer_submodules: 1,
      num_attention_heads: c.numHeads,
      num_layers: c.numLayers,
      prompt_tuning_init: PEFT_INIT[this.init],
      prompt_tuning_init_text: this.init === 'text' ? this.initText ?? null : null,
      tokenizer_name_or_path: this.init === 'text' ? this.model.source : null,
      tokenizer_kwargs: null,
    }, new Map([['prompt_embeddings', this.params.get(PROMPT_INPUT)!]]));
  }
}

export type { MicroBatch };
