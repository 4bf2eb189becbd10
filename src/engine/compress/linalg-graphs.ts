// The small ONNX graphs behind linalg.ts: each is one or two fp32 Gemms on column slices of row-major
// matrices that JS passes as contiguous row ranges (views, no copy). The column range is a run-time
// input (int64 [1] c0, c1), so one session per graph serves every block of every layer.
//
//   gemm    y = a · b            a [m, k], b [k, n]                          → [m, n]
//   gemmT   y = a · bᵀ           a [m, k], b [n, k]                          → [m, n]
//   cholZ   y = h[:, h0:h1] − a[:, c0:c1] · b[:, c0:c1]ᵀ   a [m, ·], b [n, ·] fp32, h [m, ·] float64 → [m, n] float64
//   panelT  y = float(z) · mᵀ                   z [s, b] float64, m [b, b]  → [s, b]
//   left    y = mᵀ · (a[:, c0:c1]ᵀ · d) + w0    a [s, ·], d [s, n], m [p, p], w0 [p, n] → [p, n]
//   rest    y = w − a[:, c0:c1]ᵀ · e            a [t, ·], e [t, n], w [c1 − c0, n]       → [c1 − c0, n]
// (left and rest are the OBS sweep's panel update and in-panel sub-block update, obs-sweep.ts.)

import * as ort from 'onnxruntime-node';
import { GraphBuilder, Value } from '../onnx/builder';

export type LinalgGraph = 'gemm' | 'gemmT' | 'cholZ' | 'panelT' | 'left' | 'rest';

function build(kind: LinalgGraph): Uint8Array {
  const g = new GraphBuilder('/');
  const f = (name: string, shape: string[]) => g.input(name, 'float', shape);
  const cols = (a: Value): Value => g.op('Slice', [a, g.input('c0', 'int64', [1]), g.input('c1', 'int64', [1]), g.ints([1])]);
  let y: Value;
  if (kind === 'gemm' || kind === 'gemmT') {
    y = g.op('Gemm', [f('a', ['m', 'k']), f('b', kind === 'gemmT' ? ['n', 'k'] : ['k', 'n'])], kind === 'gemmT' ? { transB: 1 } : {});
  } else if (kind === 'cholZ') {
    const ax = g.ints([1]);
    const c0 = g.input('c0', 'int64', [1]);
    const c1 = g.input('c1', 'int64', [1]);
    const p = g.op('Gemm', [g.op('Slice', [f('a', ['m', 'ka']), c0, c1, ax]), g.op('Slice', [f('b', ['n', 'kb']), c0, c1, ax])], { transB: 1 });
    const h = g.op('Slice', [g.input('h', 'double', ['m', 'kh']), g.input('h0', 'int64', [1]), g.input('h1', 'int64', [1]), ax]);
    g.output(g.sub(h, g.cast(p, 'double')), 'y', 'double', ['m', 'n']);
    return g.toModelProto();
  } else if (kind === 'panelT') {
    y = g.op('Gemm', [g.cast(g.input('z', 'double', ['s', 'b']), 'float'), f('m', ['b', 'b'])], { transB: 1 });
  } else if (kind === 'left') {
    const x = g.op('Gemm', [cols(f('a', ['s', 'ka'])), f('d', ['s', 'n'])], { transA: 1 });          // [p, n]
    y = g.op('Gemm', [f('m', ['p', 'p']), x, f('w0', ['p', 'n'])], { transA: 1, beta: { float: 1 } });
  } else {
    y = g.op('Gemm', [cols(f('a', ['t', 'ka'])), f('e', ['t', 'n']), f('w', ['r', 'n'])], { transA: 1, alpha: { float: -1 }, beta: { float: 1 } });
  }
  g.output(y, 'y', 'float', ['rows', 'n']);
  return g.toModelProto();
}

/**
 * One session per graph. `rest` runs hundreds of times per layer on small products (≤ 8 × 128 × N): it
 * gets one thread, so it never waits for a thread pool.
 */
export function linalgSession(kind: LinalgGraph, threads?: number): Promise<ort.InferenceSession> {
  const opts: ort.InferenceSession.SessionOptions = { logSeverityLevel: 3, graphOptimizationLevel: 'all' };
  if (kind === 'rest') threads = 1;
  if (threads) { opts.intraOpNumThreads = threads; opts.interOpNumThreads = 1; }
  // no spin-waiting between runs: the JS sweep runs between most of them, and spinning pool threads
  // took its core (measured on the 2 shared cores: 2-thread GPTQ of 768×2048 1.41 s spinning, 0.58 s not)
  opts.extra = { session: { intra_op: { allow_spinning: '0' } } };
  return ort.InferenceSession.create(build(kind), opts);
}
