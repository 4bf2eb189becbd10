// What a trainable parameterisation (soft prompt, prefix, LoRA, full weights) provides to the
// trainer: its tensors, how the graph is built around them, the feeds of each micro-batch, how graph
// gradients map onto its tensors, and its interchange format.

import type * as ort from 'onnxruntime-node';
import type { LoadedModel } from '../../models/config';
import type { TrainGraphOptions } from '../graph';
import type { TensorSet } from '../tensors';

export type MethodKind = 'prompt' | 'prefix' | 'lora' | 'full';

export interface RowLayout {
  /** Leading slots of every row that hold the soft prompt (placeholder ids, no labels). */
  promptSlots: number;
  /** Past (prefix) slots before the row. */
  pastLen: number;
  /** Position id of the first past slot (or of the row when there is no past); row slot t gets positionStart + pastLen + t. */
  positionStart: number;
}

export interface MicroBatch {
  B: number;
  /** Row length in the graph (prompt slots + tokens). */
  T: number;
  /** Training step (0-based) and micro-batch within it, for seeded randomness (dropout). */
  step: number;
  micro: number;
}

export interface TrainMethod {
  readonly kind: MethodKind;
  readonly model: LoadedModel;
  /** Trainable tensors by name. */
  readonly params: TensorSet;
  readonly layout: RowLayout;
  /** Graph options: hooks, trainable inputs; `training` false for the evaluation graph (no dropout). */
  graphOptions(training: boolean): TrainGraphOptions;
  /** Feeds of the trainable tensors (and masks) for one micro-batch. */
  feeds(mb: MicroBatch, training: boolean, seed: number): Record<string, ort.Tensor>;
  /** Add this micro-batch's gradients (graph outputs grad.<input>) into `grads` (keyed like params). */
  accumulate(out: ort.InferenceSession.OnnxValueMapType, grads: TensorSet): void;
  /** Whether AdamW's weight decay applies to a tensor. */
  decays(name: string): boolean;
  /** Settings that identify the parameterisation (saved in checkpoints, compared on resume). */
  describe(): Record<string, unknown>;
  /** Write the trained tensors in their interchange format (PEFT adapter, or an HF model folder). */
  export(dir: string): void;
}

/** Add a float32 graph output into an accumulator of the same length. */
export function addInto(acc: Float32Array, g: ArrayLike<number>): void {
  for (let i = 0; i < acc.length; i++) acc[i] += g[i];
}
