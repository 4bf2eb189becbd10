// The floor ORT's 4-bit kernel sets under a decode step: the model's own decode graph (the in-place-cache
// graph generate() runs) reduced to its MatMulNBits nodes — with the initializer Concats that feed the fused
// q|k|v and gate|up ones — each fed a constant activation of its width, timed per step without the profiler.
// Every other node of a real step (attention, norms, rotary, the JS around the run) only adds to it, so
// 1000 / floor-ms is the most tokens/s this model can decode with onnxruntime's MatMulNBits here.
// Also printed: the anonymous memory the session's prepacked copies take (/proc/self/smaps, Linux), per weight
// and against the model file: MatMulNBits at accuracy level 4 keeps a float scale and a float block sum per
// block beside the 4-bit codes.
//
//   node out/bench/matmul-floor.js MODEL [--threads 1] [--steps 200] [--rounds 7] [--json FILE]

import * as fs from 'fs';
import * as ort from 'onnxruntime-node';
import { loadModel } from '../src/engine/models/load';
import { buildGraph } from '../src/engine/models/graph';
import { createSession } from '../src/engine/runtime/session';
import { encodeModel, ElemType, onnx } from '../src/engine/onnx/proto';
import { relaunchWithHugePages } from '../src/engine/runtime/huge-pages';

/** Anonymous resident bytes of this process (heap, malloc'd and mmap'ed memory not backed by a file). */
function anonBytes(): number {
  let kb = 0;
  let anon = false;
  for (const line of fs.readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ (\S+)\s*(.*)$/.exec(line);
    if (head) { anon = head[1] === '0' && !head[2].startsWith('/'); continue; }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss && anon) kb += Number(rss[1]);
  }
  return kb * 1024;
}

const intAttr = (n: onnx.INodeProto, name: string) => Number(n.attribute?.find((a) => a.name === name)?.i ?? NaN);

/** The MatMulNBits nodes of `graph` (and the initializer-only nodes feeding their weights), each reading input x_K. */
export function matmulOnlyGraph(graph: onnx.IGraphProto): { graph: onnx.IGraphProto; widths: number[]; weights: number; nodes: number } {
  const nodes = graph.node ?? [];
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name!));
  const producer = new Map<string, onnx.INodeProto>();
  for (const n of nodes) for (const o of n.output ?? []) producer.set(o, n);
  const kept = new Set<onnx.INodeProto>();
  /** Whether `name` is an initializer or made from initializers only (kept then). */
  const constant = (name: string): boolean => {
    if (initializers.has(name)) return true;
    const p = producer.get(name);
    if (!p || !(p.input ?? []).every((i) => !i || constant(i))) return false;
    kept.add(p);
    return true;
  };
  const widths = new Set<number>();
  const outputs: onnx.IValueInfoProto[] = [];
  let weights = 0;
  const matmuls: onnx.INodeProto[] = [];
  for (const n of nodes) {
    if (n.opType !== 'MatMulNBits') continue;
    const [, ...rest] = n.input ?? [];
    if (!rest.every((i) => !i || constant(i))) throw new Error(`MatMulNBits ${n.name}: weights that are not constants`);
    const K = intAttr(n, 'K');
    widths.add(K);
    weights += K * intAttr(n, 'N');
    matmuls.push({ ...n, input: [`x_${K}`, ...rest] });
    outputs.push({ name: n.output![0], type: { tensorType: { elemType: ElemType.float } } });
  }
  if (matmuls.length === 0) throw new Error('the graph has no MatMulNBits: not a 4-bit model');
  const used = new Set([...kept, ...matmuls].flatMap((n) => n.input ?? []));
  return {
    graph: {
      name: 'matmul-floor',
      node: [...nodes.filter((n) => kept.has(n)), ...matmuls],
      initializer: (graph.initializer ?? []).filter((t) => used.has(t.name!)),
      input: [...widths].map((K) => ({ name: `x_${K}`, type: { tensorType: { elemType: ElemType.float, shape: { dim: [{ dimValue: 1 }, { dimValue: 1 }, { dimValue: K }] } } } })),
      output: outputs,
    },
    widths: [...widths],
    weights,
    nodes: matmuls.length,
  };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const opt = (name: string, dflt: number) => { const i = argv.indexOf(name); return i >= 0 ? Number(argv[i + 1]) : dflt; };
  const jsonAt = argv.indexOf('--json');
  const model = argv.find((a, i) => !a.startsWith('--') && (i === 0 || !argv[i - 1].startsWith('--')));
  if (!model) throw new Error('usage: matmul-floor MODEL [--threads N] [--steps N] [--rounds N] [--json FILE]');
  const threads = opt('--threads', 1), steps = opt('--steps', 200), rounds = opt('--rounds', 7);
  const m = await loadModel(model);
  const full = buildGraph(m, { logits: 'last', kvCache: 'capacity', attention: 'fused' });
  const { graph, widths, weights, nodes } = matmulOnlyGraph(full.toGraphProto());
  const bytes = encodeModel(graph, full.opsetImports as Record<string, number>);
  const anon0 = anonBytes();
  const session = await createSession(bytes, m.weightsDir, { threads });
  const feeds: Record<string, ort.Tensor> = {};
  for (const K of widths) feeds[`x_${K}`] = new ort.Tensor('float32', Float32Array.from({ length: K }, (_, i) => Math.sin(i)), [1, 1, K]);
  const fetch = [graph.output![0].name!];   // every node runs; only one result crosses into JS
  await session.run(feeds, fetch);
  const packed = anonBytes() - anon0;
  for (let i = 0; i < 20; i++) await session.run(feeds, fetch);
  const perRound: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) await session.run(feeds, fetch);
    perRound.push((performance.now() - t0) / steps);
  }
  const best = Math.min(...perRound);
  const file = fs.statSync(model).isFile() ? fs.statSync(model).size : undefined;
  console.log(`${model}: ${nodes} MatMulNBits (${(weights / 1e6).toFixed(1)}M weights), ${threads} thread(s)`);
  console.log(`  one decode step's MatMulNBits alone: ${(best * 1000).toFixed(0)} µs (best of ${rounds} rounds of ${steps}; rounds ${perRound.map((x) => (x * 1000).toFixed(0)).join(', ')})`);
  console.log(`  → at most ${(1000 / best).toFixed(0)} tokens/s from this kernel`);
  console.log(`  anonymous memory the prepacked weights took: ${(packed / 2 ** 20).toFixed(1)} MiB = ${((8 * packed) / weights).toFixed(2)} bits per weight` +
    (file ? `, ${(packed / file).toFixed(2)} × the ${(file / 2 ** 20).toFixed(1)} MiB file` : ''));
  if (jsonAt >= 0) {
    fs.writeFileSync(argv[jsonAt + 1], JSON.stringify({
      model, threads, matmulNBits: nodes, weights, floorUs: +(best * 1000).toFixed(1), roundsUs: perRound.map((x) => +(x * 1000).toFixed(1)),
      maxTokensPerSecond: +(1000 / best).toFixed(1), prepackedBytes: packed, prepackedBitsPerWeight: +((8 * packed) / weights).toFixed(3), fileBytes: file ?? null,
    }, null, 2) + '\n');
  }
  await session.release();
}

if (require.main === module && !relaunchWithHugePages()) {   // huge pages, as the CLI and bench:decode run
  main().catch((e) => { console.error(e instanceof Error ? e.stack ?? e.message : e); process.exit(1); });
}
