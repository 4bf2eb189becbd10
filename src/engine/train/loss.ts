// Next-token cross-entropy built from ops that all have VJPs (LogSoftmax → GatherElements → masked
// sum), with an ignore index for positions that carry no label (padding, soft-prompt slots).
//
// The graph outputs the summed loss and the number of labelled tokens separately: training
// differentiates the sum and divides by the token count of the whole (accumulated) batch in JS, so
// gradient accumulation gives exactly the mean over all tokens, and held-out loss is an exact
// token-weighted mean.

import type { GraphBuilder, Value } from '../onnx/builder';

export const IGNORE_INDEX = -100;

export interface CrossEntropy {
  sum: Value;     // [] Σ over labelled tokens of −log p(label)
  count: Value;   // [] number of labelled tokens (float)
  mean: Value;    // [] sum / max(count, 1)
}

/** logits [N, V], labels int64 [N] (IGNORE_INDEX = no label). */
export function crossEntropy(g: GraphBuilder, logits: Value, labels: Value, elem: 'float' | 'double' = 'float',
  ignoreIndex = IGNORE_INDEX): CrossEntropy {
  return g.scope('loss', () => {
    const lp = g.op('LogSoftmax', [logits], { axis: -1 });                                        // [N, V]
    const valid = g.op('Not', [g.op('Equal', [labels, g.constant('int64', [], [ignoreIndex])])]);  // [N] bool
    const safe = g.op('Where', [valid, labels, g.constant('int64', [], [0])]);                    // [N]
    const picked = g.op('GatherElements', [lp, g.unsqueeze(safe, [1])], { axis: 1 });           // [N, 1]
    const nll = g.op('Neg', [g.reshape(picked, [-1])]);                                          // [N]
    const w = g.cast(valid, elem);                                                                // [N]
    const sum = g.op('ReduceSum', [g.mul(nll, w)], { keepdims: 0 }, 'sum');                     // []
    const count = g.op('ReduceSum', [w], { keepdims: 0 }, 'count');                              // []
    const mean = g.div(sum, g.op('Max', [count, g.scalar(1, elem)]), 'mean');
    return { sum, count, mean };
  });
}
