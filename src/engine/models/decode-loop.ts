// Greedy decoding of many tokens in one session.run: the model's one-token graph becomes the body of an
// ONNX Loop whose carried state is (token, position, attention bias, KV cache). On small models a
// decode step costs less than passing two dozen tensors across the JS ↔ ORT boundary and back, so a
// chunk of steps per run removes most of the per-token overhead (docs/design.md, "IDP, precisely":
// per-token overhead must stay minimal). Greedy only: ArgMax picks the first maximum, exactly as the JS sampler does.
//
//   outer inputs : steps (int64 scalar), input_ids [B, 1], position_ids [B, 1], attn_bias [B, 1, 1, S],
//                  past_key.i / past_value.i [B, K, P, D]      (S = P + 1: the bias of the first step)
//   outer outputs: tokens [steps, B, 1] (the argmax of each step), present_key.i / present_value.i
//                  [B, K, P + steps, D]
// The bias carried between iterations grows by one visible column per step (Pad). The body is the
// one-token graph with logits for 'all' positions — its only one — so no node selects the last position
// (the prompt runs in the 'last' session: taking it through the Loop too cost three Gathers per step).

import { GraphBuilder } from '../onnx/builder';
import { onnx, ElemType } from '../onnx/proto';
import type { LoadedModel } from './config';
import { buildGraph } from './graph';
import { io, BuildOptions } from './blocks';

export const loopIo = { steps: 'steps', tokens: 'tokens' };

export function buildDecodeLoop(m: LoadedModel, opts: Omit<BuildOptions, 'logits'> = {}): Uint8Array {
  const c = m.config;
  const L = c.numLayers;
  const body = buildGraph(m, { ...opts, logits: 'all' });   // T = 1: logits [B, 1, V]

  // body tail: next token = argmax(logits), next position = position + 1, next bias = [bias | 0]
  const next = body.node('ArgMax', [{ name: io.logits }], { axis: -1, keepdims: 0 }, { leaf: 'loop/ArgMax' })[0];  // [B, 1]
  const pos = body.add({ name: io.positionIds }, body.constant('int64', [], [1], 'one'), 'loop/next_position');  // [B, 1]
  const bias = body.op('Pad', [{ name: io.attnBias }, body.ints([0, 0, 0, 0, 0, 0, 0, 1])], { mode: 'constant' }, 'loop/next_bias');  // [B, 1, 1, S + 1], new column 0
  const cond = { name: 'cond_in' };   // passed through: the body never stops the loop early
  const tokenOut = body.op('Identity', [next], {}, 'loop/token');

  const info = (name: string, elem: number, rank?: number): onnx.IValueInfoProto => ({
    name, type: { tensorType: { elemType: elem, ...(rank === undefined ? {} : { shape: { dim: [] } }) } },
  });
  const f = ElemType.float;
  const i64 = ElemType.int64;
  const graph = body.toGraphProto('decode_step');
  graph.input = [
    info('iter', i64, 0), info('cond_in', ElemType.bool, 0),
    info(io.inputIds, i64), info(io.positionIds, i64), info(io.attnBias, f),
    ...Array.from({ length: L }, (_, i) => [info(io.pastKey(i), f), info(io.pastValue(i), f)]).flat(),
  ];
  graph.output = [
    info(cond.name, ElemType.bool, 0), info(next.name, i64), info(pos.name, i64), info(bias.name, f),
    ...Array.from({ length: L }, (_, i) => [info(io.presentKey(i), f), info(io.presentValue(i), f)]).flat(),
    info(tokenOut.name, i64),
  ];

  const outer = new GraphBuilder(m.weightsDir);
  const steps = outer.input(loopIo.steps, 'int64', []);
  const carried = [
    outer.input(io.inputIds, 'int64', ['batch', 1]),
    outer.input(io.positionIds, 'int64', ['batch', 1]),
    outer.input(io.attnBias, 'float', ['batch', 1, 1, 'total']),
  ];
  for (let i = 0; i < L; i++) {
    carried.push(outer.input(io.pastKey(i), 'float', ['batch', c.numKvHeads, 'past', c.headDim]));
    carried.push(outer.input(io.pastValue(i), 'float', ['batch', c.numKvHeads, 'past', c.headDim]));
  }
  const names = ['final_token', 'final_position', 'final_bias', ...Array.from({ length: L }, (_, i) => [io.presentKey(i), io.presentValue(i)]).flat(), loopIo.tokens];
  outer.node('Loop', [steps, outer.constant('bool', [], [1], 'true'), ...carried], { body: { graph } }, { leaf: 'decode', names });
  for (let i = 0; i < L; i++) {
    outer.declareOutput(io.presentKey(i), 'float', ['batch', c.numKvHeads, 'total', c.headDim]);
    outer.declareOutput(io.presentValue(i), 'float', ['batch', c.numKvHeads, 'total', c.headDim]);
  }
  outer.declareOutput(loopIo.tokens, 'int64', ['steps', 'batch', 1]);
  return outer.toModelProto('idp-decode-loop', body.opsetImports as Record<string, number>);
}
