// LoRA (Hu et al.): for each adapted linear layer y = W·x (+ b), y' = y + s·B·A·dropout(x) with
// A [r, in], B [out, r], s = alpha / r (alpha / √r with rsLoRA). It enters through the linear-layer
// hook of models/blocks.ts, so every architecture and weight format (float, GPTQ) gets it in one place.
// A is drawn as PEFT does (Kaiming-uniform with a = √5: U(±1/√in)), B starts at zero. Dropout masks
// are graph inputs drawn from a stream keyed by (seed, step, micro-batch, module): exact on resume.
//
// Target names (--targets): q, k, v, o, gate, up, down, mapped per family (ArchFamily.loraTargets in
// models/arch/<family>.ts), e.g. llama: self_attn.{q,k,v,o}_proj, mlp.{gate,up,down}_proj; opt: fc1 (up),
// fc2 (down), no gate; gpt2: attn.c_attn for any of q, k, v (one fused projection).
// PEFT LORA import/export with target_modules as the layers' own names (q_proj, c_attn, …).

import * as ort from 'onnxruntime-node';
import type { LoadedModel } from '../../models/config';
import { family, layerPrefixOf } from '../../models/arch/registry';
import type { LoraTarget } from '../../models/arch/types';
import { formatError, inputError, unsupported } from '../../errors';
import { Rng } from '../../rng';
import type { TensorSet } from '../tensors';
import { baseConfig, readAdapter, writeAdapter } from '../peft';
import { addInto, MicroBatch, RowLayout, TrainMethod } from './method';
import type { TrainGraphOptions } from '../graph';

export { LORA_TARGETS } from '../../models/arch/types';
export type { LoraTarget } from '../../models/arch/types';

/** [in, out] of a linear module (nn.Linear [out, in]; GPT-2 Conv1D [in, out]). */
function dims(m: LoadedModel, module: string): [number, number] {
  const q = m.quant?.modules.get(module);
  if (q) return [q.inFeatures, q.outFeatures];
  const w = m.weights.get(`${module}.weight`);
  if (!w) throw inputError(`the model has no linear layer '${module}'`, m.source);
  return family(m.config).linearLayout === 'conv1d' ? [w.shape[0], w.shape[1]] : [w.shape[1], w.shape[0]];
}

export interface LoraOptions {
  rank: number;
  alpha?: number;          // default 2·rank
  dropout?: number;        // default 0
  targets?: LoraTarget[];  // default q, v (PEFT's default for Llama)
  rslora?: boolean;
  seed?: number;
}

const A = (mod: string) => `lora_A.${mod}`;
const Bn = (mod: string) => `lora_B.${mod}`;
const MASK = (mod: string) => `lora_mask.${mod}`;
const PEFT_PREFIX = 'base_model.model.';

export class Lora implements TrainMethod {
  readonly kind = 'lora' as const;
  readonly layout: RowLayout = { promptSlots: 0, pastLen: 0, positionStart: 0 };
  readonly scale: number;

  constructor(readonly model: LoadedModel, readonly params: TensorSet, readonly modules: string[], readonly rank: number,
    readonly alpha: number, readonly dropout: number, readonly rslora: boolean, readonly targets: string[]) {
    this.scale = rslora ? alpha / Math.sqrt(rank) : alpha / rank;
  }

  /** The HF module paths a target list adapts in this model. */
  static modulesFor(m: LoadedModel, targets: readonly string[]): string[] {
    const table = family(m.config).loraTargets;
    const suffixes = new Set<string>();
    for (const t of targets) {
      const s = table[t as LoraTarget];
      if (!s) throw inputError(`LoRA target '${t}' does not exist in ${m.config.arch} models (they have: ${Object.keys(table).join(', ')})`);
      suffixes.add(s);
    }
    const out: string[] = [];
    for (let i = 0; i < m.config.numLayers; i++) for (const s of suffixes) out.push(`${layerPrefixOf(m.config, i)}${s}`);
    return out;
  }

  static create(m: LoadedModel, o: LoraOptions): Lora {
    const r = o.rank;
    if (!(Number.isInteger(r) && r >= 1)) throw inputError(`--rank must be a positive integer, got ${r}`);
    const dropout = o.dropout ?? 0;
    if (!(dropout >= 0 && dropout < 1)) throw inputError(`LoRA dropout must be in [0, 1), got ${dropout}`);
    const targets = o.targets ?? ['q', 'v'];
    const modules = Lora.modulesFor(m, targets);
    // a rank above a layer's narrower side adds nothing (A·B has at most that rank) and only allocates
    const widest = Math.min(...modules.map((mod) => Math.min(...dims(m, mod))));
    if (r > widest) throw inputError(`LoRA rank ${r} exceeds ${widest}, the narrower side of the smallest target layer`);
    const params: TensorSet = new Map();
    for (const mod of modules) {
      const [inF, outF] = dims(m, mod);
      const rng = Rng.for(o.seed ?? 0, 'lora-init', mod);
      const bound = 1 / Math.sqrt(inF);
      params.set(A(mod), { data: Float32Array.from({ length: r * inF }, () => (2 * rng.next() - 1) * bound), shape: [r, inF] });
      params.set(Bn(mod), { data: new Float32Array(outF * r), shape: [outF, r] });
    }
    const leafNames = [...new Set(modules.map((x) => x.split('.').pop()!))];
    return new Lora(m, params, modules, r, o.alpha ?? 2 * r, dropout, !!o.rslora, leafNames);
  }

  /** Import a PEFT LORA adapter folder (tensors base_model.model.<module>.lora_{A,B}[.<adapter>].weight). */
  static load(m: LoadedModel, dir: string): Lora {
    const a = readAdapter(dir, ['LORA']);
    const params: TensorSet = new Map();
    const modules: string[] = [];
    let rank = 0;
    for (const [name, t] of a.tensors) {
      const match = /^(?:base_model\.model\.)?(.+)\.lora_([AB])(?:\.[^.]+)?\.weight$/.exec(name);
      if (!match) throw formatError(a.weightsFile, `tensor '${name}' is not a LoRA factor (…lora_A.weight / …lora_B.weight)`);
      const [, mod, which] = match;
      if (!m.weights.has(`${mod}.weight`) && !m.quant?.modules.has(mod)) throw formatError(a.weightsFile, `tensor '${name}': this model has no layer '${mod}' (an adapter for another model?)`);
      const [inF, outF] = dims(m, mod);
      const r = which === 'A' ? t.shape[0] : t.shape[1];
      const want = which === 'A' ? [r, inF] : [outF, r];
      if (t.shape.length !== 2 || t.shape[0] !== want[0] || t.shape[1] !== want[1]) {
        throw formatError(a.weightsFile, `tensor '${name}' has shape [${t.shape.join(', ')}], expected [${want.join(', ')}] for this model`);
      }
      if (rank && r !== rank) throw formatError(a.weightsFile, `mixed ranks (${rank} and ${r}) are not supported`);
      rank = r;
      params.set(which === 'A' ? A(mod) : Bn(mod), t);
      if (!modules.includes(mod)) modules.push(mod);
    }
    if (!modules.length) throw formatError(a.weightsFile, 'no LoRA tensors');
    for (const mod of modules) if (!params.has(A(mod)) || !params.has(Bn(mod))) throw formatError(a.weightsFile, `layer '${mod}' lacks lora_A or lora_B`);
    const r = a.config.r ?? rank;
    if (r !== rank) throw formatError(a.configFile, `"r" is ${JSON.stringify(a.config.r)} but the tensors have rank ${rank}`);
    const alpha = typeof a.config.lora_alpha === 'number' ? a.config.lora_alpha : rank;
    const dropout = typeof a.config.lora_dropout === 'number' ? a.config.lora_dropout : 0;
    // model order (layer, then q k v o gate up down), as create() makes it; layers the hook does not reach are refused
    const canonical = Lora.modulesFor(m, Object.keys(family(m.config).loraTargets));
    const stray = modules.find((x) => !canonical.includes(x));
    if (stray) throw unsupported(`LoRA on '${stray}' is not supported (only the attention and MLP projections of each layer)`, a.weightsFile);
    modules.sort((x, y) => canonical.indexOf(x) - canonical.indexOf(y));
    const ordered: TensorSet = new Map();
    for (const mod of modules) { ordered.set(A(mod), params.get(A(mod))!); ordered.set(Bn(mod), params.get(Bn(mod))!); }
    const leaf = [...new Set(modules.map((x) => x.split('.').pop()!))];
    return new Lora(m, ordered, modules, rank, alpha, dropout, a.config.use_rslora === true, leaf);
  }

  graphOptions(training: boolean): TrainGraphOptions {
    const adapted = new Set(this.modules);
    const withDropout = training && this.dropout > 0;
    const scale = this.scale;
    return {
      params: [...this.params.keys()],
      build: {
        hooks: {
          // y [B, T, out] + s · ((x ⊙ mask) · Aᵀ) · Bᵀ
          linear: (g, x, y, module) => {
            if (!adapted.has(module)) return y;
            const [inF, outF] = dims(this.model, module);
            const a = g.input(A(module), 'float', [this.rank, inF]);
            const b = g.input(Bn(module), 'float', [outF, this.rank]);
            const xd = withDropout ? g.mul(x, g.input(MASK(module), 'float', ['batch', 'seq', inF]), 'lora_dropout') : x;
            const down = g.matmul(xd, g.transpose(a, [1, 0], 'lora_A_T'), 'lora_A');                     // [B, T, r]
            const up = g.matmul(down, g.transpose(b, [1, 0], 'lora_B_T'), 'lora_B');                      // [B, T, out]
            return g.add(y, g.mul(up, g.scalar(scale), 'lora_scale'), 'lora_add');
          },
        },
      },
    };
  }

  feeds(mb: MicroBatch, training: boolean, seed: number): Record<string, ort.Tensor> {
    const out: Record<string, ort.Tensor> = {};
    for (const [k, t] of this.params) out[k] = new ort.Tensor('float32', t.data, t.shape);
    if (training && this.dropout > 0) {
      const keep = 1 / (1 - this.dropout);
      for (const mod of this.modules) {
        const [inF] = dims(this.model, mod);
        const rng = Rng.for(seed, 'lora-dropout', mb.step, mb.micro, mod);
        const mask = new Float32Array(mb.B * mb.T * inF);
        for (let i = 0; i < mask.length; i++) mask[i] = rng.next() < this.dropout ? 0 : keep;
        out[MASK(mod)] = new ort.Tensor('float32', mask, [mb.B, mb.T, inF]);
      }
    }
    return out;
  }

  accumulate(out: ort.InferenceSession.OnnxValueMapType, grads: TensorSet): void {
    for (const k of this.params.keys()) addInto(grads.get(k)!.data, out[`grad.${k}`].data as Float32Array);
  }

  decays(): boolean {
    return true;
  }

  describe(): Record<string, unknown> {
    return { method: 'lora', rank: this.rank, alpha: this.alpha, dropout: this.dropout, rslora: this.rslora, modules: this.modules };
  }

  export(dir: string): void {
    const tensors: TensorSet = new Map();
    for (const mod of this.modules) {
      tensors.set(`${PEFT_PREFIX}${mod}.lora_A.weight`, this.params.get(A(mod))!);
      tensors.set(`${PEFT_PREFIX}${mod}.lora_B.weight`, this.params.get(Bn(mod))!);
    }
    writeAdapter(dir, {
      ...baseConfig('LORA', this.model),
      r: this.rank, lora_alpha: this.alpha, lora_dropout: this.dropout, target_modules: this.targets,
      bias: 'none', fan_in_fan_out: family(this.model.config).linearLayout === 'conv1d', use_rslora: this.rslora, use_dora: false,
      init_lora_weights: true, modules_to_save: null, layers_to_transform: null, layers_pattern: null,
      rank_pattern: {}, alpha_pattern: {},
    }, tensors);
  }
}
