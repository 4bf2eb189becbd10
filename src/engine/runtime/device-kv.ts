// The KV cache kept in GPU memory between WebGPU runs (CausalLM option `deviceKv`; docs/gpu.md).
//
// By default every run uploads the whole cache (past_key/value.i, 2·layers tensors [B, K, P, D]) and
// downloads the grown one (present_key/value.i [B, K, P + T, D]); each download is a GPU → CPU read the
// run waits for. With the present outputs located 'gpu-buffer' (session.ts outputsOnDevice) onnxruntime-node
// hands them back as device tensors, which the next run takes as its past inputs in place: per decode step
// the only transfers left are input_ids, position_ids and attn_bias up, logits down.
//
// A device tensor's data cannot be read from JS (onnxruntime-node 1.30 implements no download), so a cache
// kept there serves further runs only; it is freed with dispose() when a run replaces it.

import type * as ort from 'onnxruntime-node';
import { io } from '../models/blocks';

/** The outputs a 'last' session keeps in GPU memory: every present_key.i / present_value.i. */
export function deviceKvOutputs(layers: number): string[] {
  return Array.from({ length: layers }, (_, i) => [io.presentKey(i), io.presentValue(i)]).flat();
}

export function onDevice(t: ort.Tensor): boolean {
  return t.location === 'gpu-buffer';
}

/** Bytes of host memory a tensor holds (0 for one in GPU memory). */
export function hostBytes(t: ort.Tensor | undefined): number {
  return t && !onDevice(t) ? (t.data as Float32Array).byteLength : 0;
}

/** Frees the GPU buffers of cache tensors a run has replaced (host tensors are left to V8). */
export function disposeReplaced(old: readonly ort.Tensor[]): void {
  for (const t of old) if (onDevice(t)) t.dispose();
}
