// Named float32 tensors (trainable parameters, optimizer moments, gradients) and their safetensors I/O.

import { readSafetensorsHeader, readTensorF32, writeSafetensors, TensorToWrite } from '../formats/safetensors';
import { formatError } from '../errors';

export interface Tensor32 {
  data: Float32Array;
  shape: number[];
}

/** Ordered name → tensor map (order = graph input order, stable across save/load). */
export type TensorSet = Map<string, Tensor32>;

export const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

export function zerosLike(set: TensorSet): TensorSet {
  return new Map([...set].map(([k, t]) => [k, { data: new Float32Array(t.data.length), shape: [...t.shape] }]));
}

export function cloneSet(set: TensorSet): TensorSet {
  return new Map([...set].map(([k, t]) => [k, { data: Float32Array.from(t.data), shape: [...t.shape] }]));
}

export function countParams(set: TensorSet): number {
  let n = 0;
  for (const t of set.values()) n += t.data.length;
  return n;
}

/** Write tensors (under their names, or `rename(name)`) to a safetensors file atomically. */
export function saveTensors(file: string, set: TensorSet, metadata?: Record<string, string>, rename: (n: string) => string = (n) => n): void {
  const out: Record<string, TensorToWrite> = {};
  for (const [k, t] of set) out[rename(k)] = { dtype: 'F32', shape: t.shape, data: t.data };
  writeSafetensors(file, out, metadata);
}

/** Read every tensor of a safetensors file as float32 (F32/F16/BF16/F64 accepted). */
export function loadTensors(file: string): { tensors: TensorSet; metadata: Record<string, string> } {
  const h = readSafetensorsHeader(file);
  const tensors: TensorSet = new Map();
  for (const [name, ref] of h.tensors) {
    if (!['F32', 'F16', 'BF16', 'F64'].includes(ref.dtype)) throw formatError(file, `tensor '${name}' has dtype ${ref.dtype}, expected a float type`);
    tensors.set(name, { data: readTensorF32(ref), shape: [...ref.shape] });
  }
  return { tensors, metadata: h.metadata };
}

/** Require `t` to have `shape`; FORMAT error naming the file and tensor otherwise. */
export function expectShape(file: string, name: string, t: Tensor32 | undefined, shape: number[]): Tensor32 {
  if (!t) throw formatError(file, `missing tensor '${name}'`);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw formatError(file, `tensor '${name}' has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
  }
  return t;
}
