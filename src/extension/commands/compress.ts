// IDP: Compress Model… — a model, a method (GPTQ / RTN 4- or 3-bit, SparseGPT / magnitude 50 %) and,
// for calibrated methods, calibration text; the engine compresses in its process (idp/compress) into
// a staged lab run that appears only when complete: runs/<id>/model (GPTQ layout) + run.json. The
// compressed model is offered afterwards by Select Model and the other workflows.

import * as path from 'path';
import * as vscode from 'vscode';
import * as dialogs from '../dialogs';
import { Ctx, memory } from '../context';
import { modelLabel, pushRecent, modelArg } from '../paths';
import { modelLoadParams } from '../settings';
import { Methods, WorkflowProgress } from '../../protocol/engine-rpc';
import type { CompressParams, CompressReply, DataSource } from '../../protocol/engine-rpc';
import { describeLoaders } from '../../engine/compress/gptq-loaders';
import { commandInputs, checkRequest, loggedProgress, pickData, pickModel, runStaged, WorkflowResult } from './workflow';

export interface CompressArgs {
  model?: string;
  method?: CompressParams['method'];
  bits?: CompressParams['bits'];
  groupSize?: number;
  sparsity?: number;
  pattern?: string;
  calib?: DataSource;
  samples?: number;
  seqlen?: number;
  seed?: number;
}

const ARG_KEYS = ['model', 'method', 'bits', 'groupSize', 'sparsity', 'pattern', 'calib', 'samples', 'seqlen', 'seed'] as const;
const USAGE = '{model?, method?, bits?, groupSize?, sparsity?, pattern?, calib?, samples?, seqlen?, seed?}';

interface Preset extends vscode.QuickPickItem { id: string; method: CompressParams['method']; bits?: CompressParams['bits']; sparsity?: number }

const PRESETS: Preset[] = [
  { id: 'gptq4', label: 'GPTQ 4-bit', description: 'calibrated', detail: 'second-order weight quantization on calibration text', method: 'gptq', bits: 4 },
  { id: 'gptq3', label: 'GPTQ 3-bit', description: 'calibrated', detail: 'harder compression: more accuracy for IDP to recover', method: 'gptq', bits: 3 },
  { id: 'rtn4', label: 'RTN 4-bit', description: 'no data', detail: 'round to nearest, group-wise', method: 'rtn', bits: 4 },
  { id: 'rtn3', label: 'RTN 3-bit', description: 'no data', method: 'rtn', bits: 3 },
  { id: 'sparsegpt50', label: 'SparseGPT 50 %', description: 'calibrated', detail: 'unstructured pruning with weight updates', method: 'sparsegpt', sparsity: 0.5 },
  { id: 'magnitude50', label: 'Magnitude 50 %', description: 'no data', detail: 'prune the smallest weights', method: 'magnitude', sparsity: 0.5 },
];

export function describeCompression(c: { method: string; bits?: number; sparsity?: number; pattern?: string; groupSize?: number }): string {
  const name = { gptq: 'GPTQ', rtn: 'RTN', sparsegpt: 'SparseGPT', magnitude: 'Magnitude' }[c.method] ?? c.method;
  const parts = [name];
  if (c.bits !== undefined) parts.push(`${c.bits}-bit`);
  if (c.pattern) parts.push(c.pattern);
  else if (c.sparsity !== undefined) parts.push(`${Math.round(c.sparsity * 100)} %`);
  if (c.bits !== undefined && c.groupSize !== undefined) parts.push(c.groupSize === -1 ? 'per channel' : `group ${c.groupSize}`);
  return parts.join(' ');
}

async function ask(ctx: Ctx): Promise<CompressArgs | undefined> {
  const title = 'IDP: Compress Model';
  const model = await pickModel(ctx, title, 'compress.model', false);
  if (!model) return undefined;
  const lastPreset = memory.get<string>(ctx, 'compress.preset', 'gptq4');
  const items = [...PRESETS].sort((a, b) => (a.id === lastPreset ? -1 : b.id === lastPreset ? 1 : 0));
  const preset = await dialogs.pick(items, { title, placeHolder: 'Compression method', ignoreFocusOut: true });
  if (!preset) return undefined;
  await memory.set(ctx, 'compress.preset', preset.id);
  let calib: DataSource | undefined;
  if (preset.method === 'gptq' || preset.method === 'sparsegpt') {
    calib = await pickData(ctx, `${title}: calibration text`, 'compress.calib', true);
    if (!calib) return undefined;
  }
  return { model, method: preset.method, bits: preset.bits, sparsity: preset.sparsity, calib };
}

export type CompressOutcome = WorkflowResult<CompressReply & { model: string; description: string }>;

/** Compresses `arg` ({model, method, bits, …}; for automation and tests) or what the user picks. */
export const compressCmd = (ctx: Ctx) => async (arg?: unknown): Promise<CompressOutcome | undefined> => {
  const inputs = await commandInputs<CompressArgs>('IDP: Compress Model', arg, ARG_KEYS, USAGE, () => ask(ctx));
  if (!inputs) return undefined;
  const { args } = inputs;
  const given = !inputs.interactive;
  const model = args.model ?? modelLoadParams().model;
  const method = args.method ?? 'gptq';
  const bits = args.bits ?? (method === 'gptq' || method === 'rtn' ? 4 : undefined);
  const calib = args.calib ?? (method === 'gptq' || method === 'sparsegpt' ? 'model' : undefined);
  const sparsity = args.sparsity ?? (args.pattern === undefined && (method === 'sparsegpt' || method === 'magnitude') ? 0.5 : undefined);
  const request = {
    model: modelArg(model), method, bits, groupSize: args.groupSize, sparsity, pattern: args.pattern, calib,
    samples: args.samples ?? (calib ? 32 : undefined), seqlen: args.seqlen ?? (calib ? 256 : undefined), seed: args.seed,
  };
  if (!checkRequest(ctx, 'Compress Model', Methods.compress.method, request)) return undefined;
  const what = `${describeCompression({ method, bits, sparsity, pattern: args.pattern })} of ${modelLabel(model).label}`;
  const r = await runStaged(ctx, `Compressing ${what}`, 'compress', async (stage, report, token) => {
    const progress = loggedProgress(ctx, 'compress', report);
    const params = { ...request, out: path.join(stage.dir, 'model') };
    const reply = await ctx.work.workflow(Methods.compress, WorkflowProgress.compress, params,
      (v) => progress({ fraction: v.layers ? v.layersDone / v.layers : 0, message: v.message }), token);
    if (reply.cancelled || token.isCancellationRequested) return undefined;
    const finalModel = path.join(stage.final, 'model');
    const description = `${describeCompression({ method, bits, sparsity, pattern: args.pattern, groupSize: reply.groupSize })} of ${modelLabel(model).label}`;
    const { out: _out, ...result } = reply;
    return {
      value: { ...reply, out: finalModel, model: finalModel, description },
      record: {
        model: finalModel, source: params.model, method, bits: bits ?? null, groupSize: reply.groupSize, sparsity: sparsity ?? null, pattern: args.pattern ?? null,
        calib: calib === undefined ? null : calib === 'model' ? 'model' : calib, samples: params.samples ?? null, seqlen: params.seqlen ?? null,
        description, result,
      },
    };
  });
  if (!r) return undefined;
  const v = r.value;
  ctx.log.info(`compressed: ${v.description}: ${v.quantized}/${v.modules} layers quantized in ${v.seconds.toFixed(1)} s` +
    `${v.meanRelError !== undefined ? `, mean ‖ΔWX‖²/‖WX‖² ${v.meanRelError.toExponential(2)} (RTN ${v.meanBaselineRelError?.toExponential(2)})` : ''}` +
    `${v.loaders ? `; GPTQ loaders: ${describeLoaders(v.loaders)}` : ''} → ${r.run}`);
  await memory.set(ctx, 'recentModels', pushRecent(memory.get<string[]>(ctx, 'recentModels', []), v.model));
  if (!given) {
    void vscode.window.showInformationMessage(`IDP: ${v.description} is ready (${v.seconds.toFixed(1)} s).`, 'Load It', 'Train Prompt Bank').then((b) => {
      if (b === 'Load It') void vscode.commands.executeCommand('idp.selectModel', v.model);
      if (b === 'Train Prompt Bank') void vscode.commands.executeCommand('idp.trainBank');
    });
  }
  return r;
};
