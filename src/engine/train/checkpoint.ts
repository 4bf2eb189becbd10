// Training checkpoints: <out>/checkpoint/ holds state.json (step, settings, method, model fingerprint,
// history), params.safetensors and the AdamW moments (adam_m / adam_v). Written into a temporary
// folder and swapped in with renames, so a crash leaves either the old or the new checkpoint, never a
// mix. Resuming restores the exact state: with every random draw keyed by (seed, step, …), the run
// continues as if it had never stopped.

import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { LoadedModel } from '../models/config';
import { formatError, inputError } from '../errors';
import { loadTensors, saveTensors, TensorSet, expectShape } from './tensors';
import { tempFolderBeside } from '../formats/atomic-folder';
import { replaceOwnFolder } from '../formats/output-folder';

export const CHECKPOINT_DIR = 'checkpoint';
const STATE = 'state.json';
const VERSION = 1;

export interface HistoryEntry {
  step: number;
  tokens: number;
  /** Training loss of the step (absent for the step-0 entry, which holds the initial held-out loss). */
  loss?: number;
  lr: number;
  gradNorm: number;
  evalLoss?: number;
}

export interface CheckpointState {
  version: number;
  /** Completed optimizer steps. */
  step: number;
  steps: number;
  tokensSeen: number;
  adamT: number;
  /** Settings that determine the trajectory (compared on resume). */
  settings: Record<string, unknown>;
  method: Record<string, unknown>;
  model: ModelFingerprint;
  history: HistoryEntry[];
}

export interface ModelFingerprint {
  architecture: string;
  vocab: number;
  hidden: number;
  layers: number;
  /** Hash of every weight's name, shape, dtype and first/last bytes. */
  weights: string;
}

/** Identity of a model's weights, cheap for large files (sizes plus the ends of every tensor). */
export function fingerprint(m: LoadedModel): ModelFingerprint {
  const h = crypto.createHash('sha256');
  const names = [...m.weights.keys()].sort();
  for (const name of names) {
    const ref = m.weights.get(name)!;
    h.update(`${name}:${ref.dtype}:${ref.shape.join('x')};`);
    const n = Math.min(256, ref.byteLength);
    const fd = fs.openSync(ref.file, 'r');
    try {
      const buf = Buffer.alloc(2 * n);
      fs.readSync(fd, buf, 0, n, ref.offset);
      fs.readSync(fd, buf, n, n, ref.offset + ref.byteLength - n);
      h.update(buf);
    } finally {
      fs.closeSync(fd);
    }
  }
  const c = m.config;
  return { architecture: c.hfArchitecture, vocab: c.vocabSize, hidden: c.hiddenSize, layers: c.numLayers, weights: h.digest('hex').slice(0, 32) };
}

export function checkpointDir(out: string): string {
  return path.join(path.resolve(out), CHECKPOINT_DIR);
}

export function hasCheckpoint(out: string): boolean {
  return fs.existsSync(path.join(checkpointDir(out), STATE));
}

export function saveCheckpoint(out: string, state: CheckpointState, params: TensorSet, m: TensorSet, v: TensorSet): void {
  const dir = checkpointDir(out);
  const tmp = tempFolderBeside(dir);
  try {
    saveTensors(path.join(tmp, 'params.safetensors'), params);
    saveTensors(path.join(tmp, 'adam_m.safetensors'), m);
    saveTensors(path.join(tmp, 'adam_v.safetensors'), v);
    fs.writeFileSync(path.join(tmp, STATE), JSON.stringify(state, null, 1) + '\n');   // written last: marks the folder complete
    replaceOwnFolder(tmp, dir, 'checkpoint');
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

export interface LoadedCheckpoint {
  state: CheckpointState;
  params: TensorSet;
  m: TensorSet;
  v: TensorSet;
  file: string;
}

/** Read a checkpoint and check it belongs to this model and parameterisation. */
export function loadCheckpoint(out: string, model: LoadedModel, method: Record<string, unknown>, like: TensorSet): LoadedCheckpoint {
  const dir = checkpointDir(out);
  const file = path.join(dir, STATE);
  let state: CheckpointState;
  try {
    state = JSON.parse(fs.readFileSync(file, 'utf8')) as CheckpointState;
  } catch (e) {
    throw formatError(file, `unreadable checkpoint state (${(e as Error).message})`);
  }
  if (state.version !== VERSION) throw formatError(file, `checkpoint version ${state.version}, expected ${VERSION}`);
  const fp = fingerprint(model);
  const differs = (Object.keys(fp) as Array<keyof ModelFingerprint>).filter((k) => fp[k] !== state.model?.[k]);
  if (differs.length) {
    throw inputError(`this checkpoint was made for another model (${state.model?.architecture}, ${state.model?.layers} layers, ` +
      `weights ${state.model?.weights}); the model given is ${fp.architecture}, ${fp.layers} layers, weights ${fp.weights}`, file);
  }
  if (JSON.stringify(state.method) !== JSON.stringify(method)) {
    throw inputError(`this checkpoint trains ${JSON.stringify(state.method)}, not ${JSON.stringify(method)}`, file);
  }
  const read = (name: string): TensorSet => {
    const f = path.join(dir, name);
    const t = loadTensors(f).tensors;
    for (const [k, ref] of like) expectShape(f, k, t.get(k), ref.shape);
    return new Map([...like.keys()].map((k) => [k, t.get(k)!]));
  };
  return { state, params: read('params.safetensors'), m: read('adam_m.safetensors'), v: read('adam_v.safetensors'), file };
}
