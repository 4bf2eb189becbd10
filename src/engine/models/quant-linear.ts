// The graph of a quantized linear layer (LoadedModel.quant, filled in by models/quant/gptq-load.ts):
//   x [.., in] → (act-order: Gather the input columns in kernel order) → MatMulNBits → (+ bias) → [.., out]
// MatMulNBits (com.microsoft) takes A of any rank ≥ 2 with K last; accuracy_level 4 (int8 activations
// per block) is the fast CPU path (docs/design.md: 2/8-bit at level 0 hit a slow path), 0 is fp32-exact.
// Modules the kernel cannot express run as MatMul against their cached fp32 dequantized weight.
//
// Rows of a quantized matrix (the token embedding when a quantized head stands for it): ORT's
// GatherBlockQuantized (com.microsoft, CPU; uint8 data with bits 2/4/8 follows MatMulNBits' conventions)
// reads the same bytes as MatMulNBits through views of another shape — B [N, kBlocks, blob] as
// [N, kBlocks·blob], scales [N·kBlocks] as [N, kBlocks], zero points as [N, ceil(kBlocks·bits/8)] — and
// dequantizes only the rows gathered: out = (code − zero) · scale, as MatMulNBits at level 0 computes W.
//
// Per-block offsets (GGUF types with a minimum, formats/ggml-nbits.ts): W[n, k] = scale·(code − zero) +
// o[n, b], so y = MatMulNBits(x) + Σ_b o[n, b]·s_b(x) with s_b the sum of x over block b — one
// ReduceSum per input (shared by the layers reading it) and a MatMul against oᵀ [kBlocks, N].

import type { GraphBuilder, Value } from '../onnx/builder';
import type { QuantizedModuleRef } from './config';
import { readTensorBytes, TensorRef } from '../formats/safetensors';

export const DEFAULT_ACCURACY_LEVEL = 4;

/** `names`: the output's name (a graph output such as `logits`) when no bias follows. */
export function quantizedLinear(g: GraphBuilder, x: Value, q: QuantizedModuleRef, bias: Value | undefined, accuracyLevel = DEFAULT_ACCURACY_LEVEL, names?: string[]): Value {
  const out = bias || q.offsets ? undefined : names;
  let y: Value;
  if (q.kernel === 'dequant') {
    y = g.node('MatMul', [x, g.transpose(g.weight(q.dequantized!), [1, 0], 'weight_T')], {}, { names: out })[0];   // [.., out]
  } else {
    const a = q.perm ? g.gather(x, g.weight(q.perm), -1, 'act_order') : x;                         // [.., in] kernel order
    y = g.node('MatMulNBits', [a, g.weight(q.b!), g.weight(q.scales!), g.weight(q.zeroPoints!)], {
      K: q.inFeatures, N: q.outFeatures, bits: q.runBits!, block_size: q.blockSize!, accuracy_level: accuracyLevel,
    }, { domain: 'com.microsoft', leaf: 'MatMulNBits', names: out })[0];                         // [.., out]
  }
  if (q.offsets) {
    const sums = blockSums(g, x, q.inFeatures, q.blockSize!);                                     // [B, T, kBlocks]
    const o = g.transpose(g.weight(q.offsets), [1, 0], 'offsets_T');                               // [kBlocks, out], folded at load
    const term = g.matmul(sums, o, 'offsets');                                                     // [B, T, out]
    y = g.node('Add', [y, term], {}, { leaf: 'plus_offsets', names: bias ? undefined : names })[0];
  }
  if (!bias) return y;
  return names ? g.node('Add', [y, bias], {}, { leaf: 'bias', names })[0] : g.add(y, bias, 'bias');
}

/**
 * Several quantized layers reading the same input (q/k/v, gate/up) as one MatMulNBits over their tensors
 * concatenated along N (Concat of initializers, folded by ORT at load, then prepacked as one matrix) and a
 * Split: one activation quantization and one kernel call instead of several. Undefined when they cannot
 * share a kernel (different bits or blocks, act-order, the fp32 fallback).
 */
export function fusedQuantizedLinears(g: GraphBuilder, x: Value, qs: QuantizedModuleRef[], accuracyLevel = DEFAULT_ACCURACY_LEVEL): Value[] | undefined {
  const q0 = qs[0];
  const fits = (q: QuantizedModuleRef) => q.kernel === 'nbits' && !q.perm && q.runBits === q0.runBits && q.blockSize === q0.blockSize &&
    q.inFeatures === q0.inFeatures && !!q.offsets === !!q0.offsets;
  if (qs.length < 2 || !qs.every(fits)) return undefined;
  const cat = (pick: (q: QuantizedModuleRef) => TensorRef, leaf: string) => g.concat(qs.map((q) => g.weight(pick(q))), 0, leaf);
  const N = qs.reduce((a, q) => a + q.outFeatures, 0);
  let y = g.node('MatMulNBits', [x, cat((q) => q.b!, 'b'), cat((q) => q.scales!, 'scales'), cat((q) => q.zeroPoints!, 'zero_points')], {
    K: q0.inFeatures, N, bits: q0.runBits!, block_size: q0.blockSize!, accuracy_level: accuracyLevel,
  }, { domain: 'com.microsoft', leaf: 'MatMulNBits' })[0];                                         // [.., Σ out]
  if (q0.offsets) {
    const sums = blockSums(g, x, q0.inFeatures, q0.blockSize!);
    y = g.add(y, g.matmul(sums, g.transpose(cat((q) => q.offsets!, 'offsets'), [1, 0], 'offsets_T'), 'offsets'), 'plus_offsets');
  }
  return g.node('Split', [y, g.ints(qs.map((q) => q.outFeatures))], { axis: -1 }, { outputs: qs.length });
}

/** Σ of x [B, T, K] over each block of `bs` columns → [B, T, K / bs], built once per input and block size. */
const SUMS = new WeakMap<GraphBuilder, Map<string, Value>>();
function blockSums(g: GraphBuilder, x: Value, K: number, bs: number): Value {
  let m = SUMS.get(g);
  if (!m) SUMS.set(g, (m = new Map()));
  const key = `${x.name}|${bs}`;
  let v = m.get(key);
  if (!v) {
    if (K % bs !== 0) throw new Error(`blockSums: ${K} columns are not whole blocks of ${bs}`);
    v = g.op('ReduceSum', [g.reshape(x, [0, 0, K / bs, bs], 'blocks'), g.ints([-1])], { keepdims: 0 }, 'block_sums');
    m.set(key, v);
  }
  return v;
}

/** The same bytes as another initializer, under its own name and shape. */
const view = (ref: TensorRef, suffix: string, shape: number[]): TensorRef => ({ ...ref, name: `${ref.name}.${suffix}`, shape });

/**
 * Rows `ids` [B, T] of the quantized matrix W [out, in] → [B, T, in] float: the embedding lookup of a
 * tied head stored quantized. Act-order modules gather the columns back into input order.
 */
export function quantizedRows(g: GraphBuilder, q: QuantizedModuleRef, ids: Value): Value {
  if (q.kernel === 'dequant') return g.gather(g.weight(q.dequantized!), ids, 0, 'Gather');        // [B, T, in]
  const N = q.outFeatures;
  const K = q.inFeatures;
  const bits = q.runBits!;
  const bs = q.blockSize!;
  const kBlocks = Math.ceil(K / bs);
  const data = g.weight(view(q.b!, 'rows', [N, (kBlocks * bs * bits) / 8]));
  const scales = g.weight(view(q.scales!, 'rows', [N, kBlocks]));
  const zeros = g.weight(view(q.zeroPoints!, 'rows', [N, Math.ceil((kBlocks * bits) / 8)]));
  let rows = g.node('GatherBlockQuantized', [data, ids, scales, zeros], { gather_axis: 0, quantize_axis: 1, block_size: bs, bits },
    { domain: 'com.microsoft', leaf: 'GatherBlockQuantized' })[0];                               // [B, T, kBlocks·bs], kernel order
  if (q.offsets) {                                                                              // + o[id, b] per block
    const o = g.unsqueeze(g.gather(g.weight(q.offsets), ids, 0, 'offsets'), [3]);                 // [B, T, kBlocks, 1]
    rows = g.reshape(g.add(g.reshape(rows, [0, 0, kBlocks, bs], 'blocks'), o, 'plus_offsets'), [0, 0, kBlocks * bs], 'rows');
  }
  if (kBlocks * bs !== K) rows = g.slice(rows, [0], [K], [-1], 'unpad');                          // [B, T, in]
  if (q.perm) {
    const perm = new BigInt64Array(Uint8Array.from(readTensorBytes(q.perm)).buffer);          // kernel column i holds input column perm[i]
    const inverse = new Array<number>(K);
    for (let i = 0; i < K; i++) inverse[Number(perm[i])] = i;
    rows = g.gather(rows, g.ints(inverse), -1, 'input_order');
  }
  return rows;
}

/** Token embeddings served by a quantized matrix: the table Value weights().get returns, per graph. */
const TABLES = new WeakMap<GraphBuilder, Map<string, QuantizedModuleRef>>();

/** A placeholder Value for the table `q` stands for (only embed() in blocks.ts reads it). */
export function quantizedTable(g: GraphBuilder, name: string, q: QuantizedModuleRef): Value {
  let m = TABLES.get(g);
  if (!m) TABLES.set(g, (m = new Map()));
  const key = `quantized_table:${name}`;
  m.set(key, q);
  return { name: key };
}

/** The quantized matrix behind a table Value, if it is one. */
export function quantizedTableOf(g: GraphBuilder, table: Value): QuantizedModuleRef | undefined {
  return TABLES.get(g)?.get(table.name);
}
