// Full training: every weight of the model is trainable (graph inputs instead of memory-mapped
// initializers). Weight decay applies to matrices only (not to norm weights and biases, the usual
// practice). The result is an HF model folder: config.json, model.safetensors and the tokenizer files
// of the source folder, written atomically.

import * as fs from 'fs';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { LoadedModel, modelFolder } from '../../models/config';
import { readTensorF32 } from '../../formats/safetensors';
import { unsupported } from '../../errors';
import { saveTensors, TensorSet } from '../tensors';
import { tempFolderBeside } from '../../formats/atomic-folder';
import { replaceOwnFolder } from '../../formats/output-folder';
import { addInto, RowLayout, TrainMethod } from './method';
import type { TrainGraphOptions } from '../graph';

const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.json', 'merges.txt', 'tokenizer.model', 'generation_config.json'];

export class FullWeights implements TrainMethod {
  readonly kind = 'full' as const;
  readonly layout: RowLayout = { promptSlots: 0, pastLen: 0, positionStart: 0 };

  constructor(readonly model: LoadedModel, readonly params: TensorSet) {}

  static create(m: LoadedModel): FullWeights {
    if (m.quant) throw unsupported('full training of a quantized (GPTQ) model is not supported: train LoRA, a prompt or a prefix', m.source);
    const params: TensorSet = new Map();
    for (const [name, ref] of m.weights) {
      if (ref.dtype !== 'F32') throw unsupported(`full training needs float32 weights; '${name}' is ${ref.dtype}`, ref.file);
      params.set(name, { data: readTensorF32(ref), shape: [...ref.shape] });
    }
    return new FullWeights(m, params);
  }

  graphOptions(): TrainGraphOptions {
    return { weights: [...this.params.keys()] };
  }

  feeds(): Record<string, ort.Tensor> {
    const out: Record<string, ort.Tensor> = {};
    for (const [k, t] of this.params) out[k] = new ort.Tensor('float32', t.data, t.shape);
    return out;
  }

  accumulate(out: ort.InferenceSession.OnnxValueMapType, grads: TensorSet): void {
    for (const k of this.params.keys()) addInto(grads.get(k)!.data, out[`grad.${k}`].data as Float32Array);
  }

  decays(name: string): boolean {
    return this.params.get(name)!.shape.length >= 2;
  }

  describe(): Record<string, unknown> {
    return { method: 'full' };
  }

  /** Write an HF model folder (config.json from the loaded model, trained weights, tokenizer files). */
  export(dir: string, extra: Record<string, string> = {}): void {
    const abs = path.resolve(dir);
    const tmp = tempFolderBeside(abs);
    try {
      fs.copyFileSync(path.join(modelFolder(this.model), 'config.json'), path.join(tmp, 'config.json'));
      saveTensors(path.join(tmp, 'model.safetensors'), this.params, { format: 'pt' });
      for (const f of TOKENIZER_FILES) {
        const src = path.join(modelFolder(this.model), f);
        if (fs.existsSync(src)) fs.copyFileSync(src, path.join(tmp, f));
      }
      for (const [name, text] of Object.entries(extra)) fs.writeFileSync(path.join(tmp, name), text);
      replaceOwnFolder(tmp, abs, 'model');
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }
}
