// Dead-code elimination: drop nodes (and then initializers and, optionally, graph inputs) that no
// graph output depends on. Used after building a training graph whose forward part computes values
// (logits, present K/V) that the loss and gradients do not need.

import type { GraphBuilder } from './builder';

export interface PruneResult { nodes: number; initializers: number; inputs: number }

export function pruneGraph(g: GraphBuilder, opts: { dropUnusedInputs?: boolean } = {}): PruneResult {
  const needed = new Set(g.outputs.map((o) => o.name!));
  const keep: boolean[] = new Array(g.nodes.length).fill(false);
  for (let k = g.nodes.length - 1; k >= 0; k--) {
    const n = g.nodes[k];
    if ((n.output ?? []).some((o) => needed.has(o))) {
      keep[k] = true;
      for (const i of n.input ?? []) if (i) needed.add(i);
    }
  }
  const before = { nodes: g.nodes.length, initializers: g.initializers.length, inputs: g.inputs.length };
  const kept = g.nodes.filter((_, k) => keep[k]);
  g.nodes.splice(0, g.nodes.length, ...kept);
  const inits = g.initializers.filter((t) => needed.has(t.name!));
  g.initializers.splice(0, g.initializers.length, ...inits);
  if (opts.dropUnusedInputs) {
    const ins = g.inputs.filter((v) => needed.has(v.name!));
    g.inputs.splice(0, g.inputs.length, ...ins);
  }
  return {
    nodes: before.nodes - g.nodes.length,
    initializers: before.initializers - g.initializers.length,
    inputs: before.inputs - g.inputs.length,
  };
}
