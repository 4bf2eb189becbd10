// The IDP prefill graph: the model's own graph over [KV(P_1) | … | KV(P_m) | input] (the prompts' cached
// K/V are the past) with the prompt selection computed in the graph (paper §3.1.1, docs/design.md "IDP, precisely"):
//
//   layers < ℓ     attend to every prompt segment (and causally to the input);
//   layer ℓ        (the selection layer, explicit attention) — its probabilities A [B, K, G, T, S] give
//                  each prompt's score: the attention mass on the prompt's slots, averaged over all heads
//                  and over the input tokens that vote (idp_query_weight); ArgMax picks one prompt per
//                  row (through the bank's calibration, below); the probabilities that weight V are then
//                  recomputed with the other prompts masked
//                  ("in the final phase of the self-attention mechanism, we use an attention mask to
//                  discard any unintended prompts");
//   layers > ℓ     see only the selected prompt: its slots are gathered from the past (rows whose prompts
//                  differ in length are left-padded to the longest, the padding masked), so they cost what
//                  a single cached prompt costs; with `inspect` the other prompts stay in, masked by the bias
//                  (same result; full-width attention maps).
//
// Prompts never attend to each other: their K/V were computed alone (kv.ts), and nothing here gives them
// queries. Layers other than ℓ keep the fused Attention kernel unless `attention: 'explicit'`.
//
// Extra inputs:  idp_segments [m, P] float — weight of past slot j in prompt i's score, 0 where slot j is
//                  not prompt i's (1: attention mass; 1/n_i: mean attention per prompt token);
//                idp_query_weight [B, T] float — 1 for input tokens that vote, 0 for padding;
//                idp_score_weight [H·m, m], idp_score_bias [m] float — the selection's calibration: the
//                  per-head masses f [B, H·m] (head h, prompt i at h·m + i; voted mean over the input)
//                  become scores f·W + b and ArgMax picks; W = stacked identities / H and b = 0 is the
//                  paper's rule (head-mean attention mass), calibration.ts fits others.
// Extra outputs: idp_mass [B, m] float (head-mean attention mass), idp_scores [B, m] float (what ArgMax
//                read), idp_selected [B] int64; with `features`, idp_features.i [B, H·m] for every layer
//                i ≤ ℓ (the f that a selection at layer i would read; fitting data); with `inspect`, idp_attn.i [B, T, S]:
//                layer i's probabilities averaged over heads (at ℓ: before masking — what the selection saw);
//                with `heads` also idp_heads.i [B, K, G, T, S]: the same per head (query head k·G + g).
// present_key.i / present_value.i hold [all prompts | input] up to ℓ, [selected prompt | input] after it:
// the input's slots are always the last T.

import type { GraphBuilder, Value } from '../onnx/builder';
import type { LoadedModel } from '../models/config';
import { buildGraph } from '../models/graph';
import { BuildOptions, io, MASK_MIN } from '../models/blocks';
import { inputError } from '../errors';
import type { KvGraphOptions } from './kv';

export const idpIo = {
  segments: 'idp_segments',
  queryWeight: 'idp_query_weight',
  scoreWeight: 'idp_score_weight',
  scoreBias: 'idp_score_bias',
  mass: 'idp_mass',
  scores: 'idp_scores',
  selected: 'idp_selected',
  features: (i: number) => `idp_features.${i}`,
  attn: (i: number) => `idp_attn.${i}`,
  heads: (i: number) => `idp_heads.${i}`,
};

export interface IdpGraphOptions extends KvGraphOptions {
  /** Layer whose attention picks the prompt (0-based). */
  selectionLayer: number;
  logits: 'all' | 'last';
  /** 'explicit': every layer takes the explicit path (bit-for-bit comparisons with explicit graphs). */
  attention?: 'fused' | 'explicit';
  /** Also output every layer's head-averaged attention map (idp_attn.i). */
  inspect?: boolean;
  /** With `inspect`: also output every layer's per-head probabilities (idp_heads.i). */
  heads?: boolean;
  /** After ℓ, gather the selected prompt's slots (default) or keep every prompt masked (default with inspect). */
  compact?: boolean;
  /** Also output idp_features.i for every layer i ≤ ℓ (explicit attention there; for fitting a calibration). */
  features?: boolean;
}

export function checkSelectionLayer(layer: number, layers: number, file?: string): void {
  if (!(Number.isInteger(layer) && layer >= 0 && layer < layers)) {
    throw inputError(`selection layer ${layer} does not exist: the model has layers 0…${layers - 1}`, file);
  }
}

export function buildIdpGraph(m: LoadedModel, o: IdpGraphOptions): GraphBuilder {
  const c = m.config;
  checkSelectionLayer(o.selectionLayer, c.numLayers);
  const sel = o.selectionLayer;
  const compact = o.compact ?? !o.inspect;   // after ℓ: attend to the selected prompt's slots only (not all, masked)
  let segs: Value | undefined;       // [m, P]
  let qw: Value | undefined;         // [B, T]
  let votes: Value | undefined;      // [B, 1]: voting tokens per row (at least 1e-30)
  let extra: Value | undefined;      // [B, S]: 0 where visible after selection, MASK_MIN on the other prompts
  let laterBias: Value | undefined;  // bias of layers > ℓ: [B, 1, T, S] masked, or [B, 1, T, n + T] compact
  let gatherAt: Value | undefined;   // compact: [B, K, n] rows of past_key.i reshaped [B·K·P, D] to keep
  let slot: Value | undefined;       // compact: [B, n] past slot of each kept position (left-padded)
  let valid: Value | undefined;      // compact: [B, n] bool — false on left padding

  const declare = (g: GraphBuilder) => {
    if (!segs) {
      segs = g.input(idpIo.segments, 'float', ['prompts', 'past']);
      qw = g.input(idpIo.queryWeight, 'float', ['batch', 'seq']);
      votes = g.op('Max', [g.op('ReduceSum', [qw, g.ints([1])], { keepdims: 1 }, 'votes'), g.scalar(1e-30)], {}, 'votes_min');
    }
  };

  /** Per-head attention mass on each prompt, voted mean over the input: [B, H·m] (head h, prompt i at h·m + i). */
  const headMass = (g: GraphBuilder, probs: Value, name: string): Value => {
    declare(g);
    const pEnd = g.op('Shape', [segs!], { start: 1, end: 2 }, `${name}/P`);                              // [1] = P
    const onPrompts = g.op('Slice', [probs, g.ints([0]), pEnd, g.ints([4])], {}, `${name}/prompt_probs`);    // [B, K, G, T, P]
    const mass = g.matmul(onPrompts, g.transpose(segs!, [1, 0], `${name}/segments_T`), `${name}/mass`);    // [B, K, G, T, m]
    const voted = g.mul(mass, g.unsqueeze(qw!, [1, 2, 4]), `${name}/voted`);                              // [B, K, G, T, m]
    const total = g.op('ReduceSum', [voted, g.ints([3])], { keepdims: 0 }, `${name}/total`);                // [B, K, G, m]
    const mean = g.div(total, g.unsqueeze(votes!, [2, 3]), `${name}/mean`);                                // [B, K, G, m]
    return g.reshape(mean, [0, -1], `${name}/features`);                                                   // [B, H·m]
  };

  /** Scores [B, m], selection [B] and what later layers need, from layer ℓ's probabilities. */
  const select = (g: GraphBuilder, probs: Value): void => g.scope('idp', () => {
    declare(g);
    const s = segs!;
    const w = qw!;
    const pEnd = g.op('Shape', [s], { start: 1, end: 2 }, 'P');                             // [1] = P
    const f = headMass(g, probs, 'select');                                                 // [B, H·m]
    const H = c.numHeads;
    const perHead = g.reshape(f, [0, H, -1], 'per_head');                                   // [B, H, m]
    g.output(g.op('ReduceMean', [perHead, g.ints([1])], { keepdims: 0 }, 'head_mean'), idpIo.mass, 'float', ['batch', 'prompts']);   // [B, m]
    const W = g.input(idpIo.scoreWeight, 'float', ['features', 'prompts']);                // [H·m, m]
    const b = g.input(idpIo.scoreBias, 'float', ['prompts']);                              // [m]
    const scores = g.add(g.matmul(f, W, 'calibrated'), b, 'scores');                       // [B, m]
    g.output(scores, idpIo.scores, 'float', ['batch', 'prompts']);
    const chosen = g.op('ArgMax', [scores], { axis: 1, keepdims: 0 }, 'ArgMax');           // [B] int64
    g.output(chosen, idpIo.selected, 'int64', ['batch']);
    const depth = g.op('Shape', [s], { start: 0, end: 1 }, 'm');                            // [1] = m
    const oneHot = g.op('OneHot', [chosen, depth, g.constant('float', [2], [0, 1], 'off_on')], { axis: -1 }, 'one_hot');  // [B, m]
    const member = g.cast(g.op('Greater', [s, g.scalar(0)], {}, 'member'), 'float');      // [m, P]
    const keep = g.matmul(oneHot, member, 'keep');                                          // [B, P]: 1 on the chosen prompt
    const hidePast = g.mul(g.sub(g.scalar(1), keep, 'hidden'), g.scalar(MASK_MIN), 'hide_past');    // [B, P]
    const zeros = g.op('ConstantOfShape', [g.op('Shape', [w], {}, 'shape_bt')], {}, 'input_zeros');  // [B, T]
    extra = g.concat([hidePast, zeros], 1, 'hide');                                         // [B, S]
    if (!compact) return;
    // the chosen prompt's slots, right-aligned in n = max over rows of n_chosen (shorter rows left-padded)
    const lens = g.cast(g.op('ReduceSum', [member, g.ints([1])], { keepdims: 0 }, 'lengths'), 'int64');   // [m]
    const starts = g.sub(g.op('CumSum', [lens, g.constant('int64', [], [0], 'axis0')], {}, 'ends'), lens, 'starts');  // [m]
    const nSel = g.gather(lens, chosen, 0, 'n_chosen');                                    // [B]
    const nMax = g.op('ReduceMax', [nSel], { keepdims: 0 }, 'n');                          // []
    const j = g.op('Range', [g.constant('int64', [], [0], 'zero'), nMax, g.constant('int64', [], [1], 'one')], {}, 'j');   // [n]
    const rel = g.sub(g.unsqueeze(j, [0]), g.unsqueeze(g.sub(nMax, nSel, 'pad'), [1]), 'rel');          // [B, n]
    valid = g.op('GreaterOrEqual', [rel, g.constant('int64', [], [0], 'zero')], {}, 'valid');            // [B, n]
    slot = g.add(g.unsqueeze(g.gather(starts, chosen, 0, 'start_chosen'), [1]), g.op('Max', [rel, g.constant('int64', [], [0], 'zero')]), 'slot');  // [B, n]
    const B = g.op('Squeeze', [g.op('Shape', [w], { start: 0, end: 1 }, 'B'), g.ints([0])], {}, 'B_scalar');   // []
    const rows = g.op('Range', [g.constant('int64', [], [0], 'zero'), B, g.constant('int64', [], [1], 'one')], {}, 'b');  // [B]
    const bk = g.add(g.mul(g.unsqueeze(rows, [1]), g.constant('int64', [], [c.numKvHeads], 'K')), g.constant('int64', [1, c.numKvHeads], Array.from({ length: c.numKvHeads }, (_, k) => k), 'k'), 'bk');  // [B, K]
    gatherAt = g.add(g.unsqueeze(g.mul(bk, pEnd, 'bkP'), [2]), g.unsqueeze(slot, [1]), 'gather_rows');    // [B, K, n]
  });

  /** Bias of the layers after ℓ, from attn_bias [B, 1, T, P + T] (built once). */
  const biasAfter = (g: GraphBuilder, bias: Value): Value => g.scope('idp', () => {
    if (!compact) return g.add(bias, g.unsqueeze(extra!, [1, 2]), 'masked_bias');           // [B, 1, T, S]
    const pEnd = g.op('Shape', [segs!], { start: 1, end: 2 }, 'P');
    const onPrompts = g.op('Slice', [bias, g.ints([0]), pEnd, g.ints([3])], {}, 'prompt_bias');            // [B, 1, T, P]
    const shape = g.concat([g.op('Shape', [onPrompts], { start: 0, end: 3 }), g.op('Shape', [slot!], { start: 1, end: 2 })], 0, 'kept_shape');
    const at = g.op('Expand', [g.unsqueeze(slot!, [1, 2]), shape], {}, 'kept_at');                        // [B, 1, T, n]
    const kept = g.op('GatherElements', [onPrompts, at], { axis: 3 }, 'kept_bias');                       // [B, 1, T, n]
    const pad = g.unsqueeze(g.op('Where', [valid!, g.scalar(0), g.scalar(MASK_MIN)], {}, 'pad_bias'), [1, 2]);   // [B, 1, 1, n]
    const input = g.op('Slice', [bias, pEnd, g.ints([Number.MAX_SAFE_INTEGER]), g.ints([3])], {}, 'input_bias');  // [B, 1, T, T]
    return g.concat([g.add(kept, pad, 'kept_masked'), input], 3, 'compact_bias');                       // [B, 1, T, n + T]
  });

  const hooks: BuildOptions['hooks'] = {
    attention: {
      explicit: (i) => !!o.inspect || i === sel || (!!o.features && i < sel),
      past: (g, i) => {
        if (!compact || i <= sel) return undefined;
        const D = c.headDim;
        return [io.pastKey(i), io.pastValue(i)].map((name, kv) => g.gather(g.reshape({ name }, [-1, D], kv ? 'v/flat_past' : 'k/flat_past'), gatherAt!, 0,
          kv ? 'v/kept_past' : 'k/kept_past')) as [Value, Value];                                  // [B, K, n, D]
      },
      bias: (g, i, bias) => {
        if (i <= sel) return bias;
        laterBias ??= biasAfter(g, bias);
        return laterBias;
      },
      probs: (g, i, probs, scores) => {
        if (o.inspect) g.output(g.op('ReduceMean', [probs, g.ints([1, 2])], { keepdims: 0 }, 'idp/head_mean'), idpIo.attn(i), 'float', ['batch', 'seq', 'total']);
        if (o.inspect && o.heads) g.output(g.op('Identity', [probs], {}, 'idp/head_probs'), idpIo.heads(i), 'float', ['batch', 'kv_heads', 'group', 'seq', 'total']);
        if (o.features && i <= sel) g.output(g.scope('idp', () => headMass(g, probs, `features_${i}`)), idpIo.features(i), 'float', ['batch', 'features']);
        if (i !== sel) return probs;
        select(g, probs);
        const masked = g.add(scores, g.unsqueeze(extra!, [1, 2, 3]), 'idp/masked_scores');   // [B, K, G, T, S]
        return g.op('Softmax', [masked], { axis: -1 }, 'idp/Softmax');
      },
    },
  };
  return buildGraph(m, { ...o, logits: o.logits, attention: o.attention ?? 'fused', hooks });
}
