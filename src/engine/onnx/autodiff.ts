// Reverse-mode automatic differentiation over a GraphBuilder's nodes (docs/design.md, decision 3).
//
// appendBackward() walks the forward nodes in reverse and appends, to the same graph, the nodes of
// each op's vector-Jacobian product (vjp/*.ts), giving one fused forward+backward graph. Only nodes
// on a path from a requested value to the loss are differentiated ("active"); every other branch is
// left alone, and only the gradients of the requested values are produced. When a value feeds several
// consumers, its gradient contributions are summed with Add nodes. Integer and bool values never carry
// gradients. Backward nodes are named under /grad/<forward node path>/…, so they stay inspectable.
//
// Frozen weights stay what they were (external-data initializers, memory-mapped); trainable tensors
// are whatever names the caller asks for — usually graph inputs fed from JS each step.

import type { GraphBuilder, Value } from './builder';
import { ElemType, ElemTypeName } from './proto';
import { GraphInfo, Shape } from './infer';
import { VjpContext, vjpFor } from './vjp';
import { inputError, unsupported } from '../errors';

export interface BackwardSpec {
  /** The value to differentiate (usually a scalar loss). */
  loss: Value | string;
  /** Names of graph inputs, initializers or intermediate values whose gradients are wanted. */
  wrt: string[];
  /** d(objective)/d(loss); default ones shaped like the loss. */
  seed?: Value;
}

export interface BackwardResult {
  /** wrt name → its gradient (zeros when the value does not reach the loss). */
  grads: Map<string, Value>;
  /** Types and shapes of the forward values. */
  info: GraphInfo;
  /** Number of forward nodes that were differentiated, and of backward nodes appended. */
  activeNodes: number;
  backwardNodes: number;
}

const ELEM_NAME = new Map<number, ElemTypeName>(Object.entries(ElemType).map(([k, v]) => [v, k as ElemTypeName]));

function typedScalar(g: GraphBuilder, value: number, elem: number): Value {
  if (elem === ElemType.float) return g.scalar(value, 'float');
  if (elem === ElemType.double) return g.scalar(value, 'double');
  return g.op('Cast', [g.scalar(value, 'double')], { to: elem }, 'scalar');
}

/** Append the backward graph for `spec` to `g`; returns the gradients of `spec.wrt`. */
export function appendBackward(g: GraphBuilder, spec: BackwardSpec): BackwardResult {
  const info = new GraphInfo(g);
  const forward = g.nodes.slice();
  const start = g.nodes.length;
  const lossName = typeof spec.loss === 'string' ? spec.loss : spec.loss.name;
  if (!info.elem.has(lossName)) throw inputError(`autodiff: the graph has no value named '${lossName}'`);
  if (!info.isFloat(lossName)) throw inputError(`autodiff: the loss '${lossName}' is not a floating-point tensor`);
  for (const w of spec.wrt) {
    if (!info.elem.has(w)) throw inputError(`autodiff: the graph has no value named '${w}' to differentiate`);
    if (!info.isFloat(w)) throw inputError(`autodiff: '${w}' is not a floating-point tensor and has no gradient`);
  }

  // Values that depend on a requested value (R) and values the loss depends on (L).
  const R = new Set(spec.wrt);
  for (const n of forward) {
    if ((n.input ?? []).some((i) => R.has(i))) for (const o of n.output ?? []) if (info.isFloat(o)) R.add(o);
  }
  const L = new Set([lossName]);
  for (let k = forward.length - 1; k >= 0; k--) {
    const n = forward[k];
    if ((n.output ?? []).some((o) => L.has(o))) for (const i of n.input ?? []) if (i) L.add(i);
  }
  const active = (v: string) => !!v && R.has(v) && L.has(v) && info.isFloat(v);

  const grads = new Map<string, Value>();
  const lossElem = info.elemOf(lossName)!;
  const lossShape = info.shapeOf(lossName);
  const seed = spec.seed ?? g.scope('grad', () => (lossShape && lossShape.length === 0
    ? typedScalar(g, 1, lossElem)
    : g.op('Expand', [typedScalar(g, 1, lossElem), g.op('Shape', [{ name: lossName }])], {}, 'seed')));
  grads.set(lossName, seed);
  info.elem.set(seed.name, lossElem);

  // Gradients have their value's element type: recorded so VJPs can make typed constants from them.
  const accumulate = (name: string, d: Value) => {
    const prev = grads.get(name);
    const sum = prev ? g.scope('grad', () => g.scope('acc', () => g.add(prev, d))) : d;
    info.elem.set(sum.name, info.elemOf(name)!);
    info.elem.set(d.name, info.elemOf(name)!);
    grads.set(name, sum);
  };

  let activeNodes = 0;
  for (let k = forward.length - 1; k >= 0; k--) {
    const n = forward[k];
    const inputs = n.input ?? [];
    const need = inputs.map((i) => active(i));
    if (!need.some((x) => x)) continue;
    const dy = (n.output ?? []).map((o) => grads.get(o) ?? null);
    if (dy.every((d) => d === null)) continue;
    const vjp = vjpFor(n.opType!, n.domain ?? '');
    if (!vjp) throw unsupported(`autodiff: no VJP for ${n.domain ? `${n.domain}:` : ''}${n.opType} (node '${n.name}')`);
    activeNodes++;
    const path = (n.name ?? n.opType!).replace(/^\//, '');
    const res = g.scope('grad', () => g.scope(path, () => vjp(new VjpContext(g, n, info, dy, need))));
    need.forEach((want, i) => {
      const d = res[i];
      if (want && d) accumulate(inputs[i], d);
    });
  }

  const out = new Map<string, Value>();
  for (const w of spec.wrt) {
    const d = grads.get(w)
      ?? g.scope('grad', () => g.op('Expand', [typedScalar(g, 0, info.elemOf(w)!), g.op('Shape', [{ name: w }])], {}, 'zeros'));
    out.set(w, d);
  }
  return { grads: out, info, activeNodes, backwardNodes: g.nodes.length - start };
}

/** Graph-output name of a gradient. */
export const gradName = (name: string) => `grad.${name}`;

/** Declare each gradient as a graph output `grad.<name>` (typed like its value). */
export function exposeGradients(g: GraphBuilder, res: BackwardResult, name: (wrt: string) => string = gradName): Map<string, string> {
  const names = new Map<string, string>();
  for (const [w, d] of res.grads) {
    const elem = ELEM_NAME.get(res.info.elemOf(w)!) ?? 'float';
    const s: Shape | undefined = res.info.shapeOf(w);
    const shape = s && s.every((x) => x !== null) ? (s as Array<number | string>) : undefined;
    g.output(d, name(w), elem, shape);
    names.set(w, name(w));
  }
  return names;
}
