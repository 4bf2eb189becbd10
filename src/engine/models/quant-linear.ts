// The graph of a quantized linear layer (LoadedModel.quant, filled in by compress/gptq-load.ts):
//   x [.., in] → (act-order: Gather the input columns in kernel order) → MatMulNBits → (+ bias) → [.., out]
// MatMulNBits (com.microsoft) takes A of any rank ≥ 2 with K last; accuracy_level 4 (int8 activations
// per block) is the fast CPU path (DESIGN.md: 2/8-bit at level 0 hit a slow path), 0 is fp32-exact.
// Modules the kernel cannot express run as MatMul against their cached fp32 dequantized weight.

import type { GraphBuilder, Value } from '../onnx/builder';
import type { QuantizedModuleRef } from './config';

export const DEFAULT_ACCURACY_LEVEL = 4;

export function quantizedLinear(g: GraphBuilder, x: Value, q: QuantizedModuleRef, bias: Value | undefined, accuracyLevel = DEFAULT_ACCURACY_LEVEL): Value {
  let y: Value;
  if (q.kernel === 'dequant') {
    y = g.matmul(x, g.transpose(g.weight(q.dequantized!), [1, 0], 'weight_T'));                     // [.., out]
  } else {
    const a = q.perm ? g.gather(x, g.weight(q.perm), -1, 'act_order') : x;                         // [.., in] kernel order
    y = g.node('MatMulNBits', [a, g.weight(q.b!), g.weight(q.scales!), g.weight(q.zeroPoints!)], {
      K: q.inFeatures, N: q.outFeatures, bits: q.runBits!, block_size: q.blockSize!, accuracy_level: accuracyLevel,
    }, { domain: 'com.microsoft', leaf: 'MatMulNBits' })[0];                                     // [.., out]
  }
  return bias ? g.add(y, bias, 'bias') : y;
}
