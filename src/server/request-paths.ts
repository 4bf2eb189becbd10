// Every path an engine request reads or writes, from its parameters alone: the one list that
// Restricted Mode checks (the extension before it sends a request, src/extension/trust.ts; the
// engine process before it runs one, confinement.ts). A new request or a new path parameter is
// added here, or it is not checked anywhere.
//
// Reads are files or folders the request opens (a model folder, a bank folder, a task file); for a
// glob, its fixed leading folder, the only folder its walk reads (eval/corpus.ts); for a model named
// by a Hugging Face Hub reference, its repository folder in the HF cache (engine/hub/resolve.ts). Paths named inside
// files are followed where the engine follows them: `compare: true` reads the source model named in
// the inspected model's idp-compress.json. Writes are the outputs the request creates.
//
// Total on untyped input: a parameter of the wrong type is skipped here (the request's own parameter
// check rejects it before anything is read).

import * as fs from 'fs';
import * as path from 'path';
import { dataDir as defaultDataDir } from '../engine/defaults';
import { hasGlob, splitGlob } from '../engine/eval/corpus';
import { reportPaths } from '../engine/eval/report';
import { Methods } from '../protocol/engine-rpc';
import { modelReadPath } from '../engine/hub/resolve';

export interface RequestPaths {
  reads: string[];
  writes: string[];
}

export interface RequestContext {
  /** The model the engine holds (idp/inspect without `model` inspects it). */
  loadedModel?: string;
}

type Obj = Record<string, unknown>;

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v : undefined);
const strs = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => str(x) !== undefined) : []);
/** A model parameter: a path, or a Hub reference (read: its cache folder). */
const model = (v: unknown): string | undefined => { const s = str(v); return s === undefined ? undefined : modelReadPath(s); };

/** What a path or glob reads: the path, or the glob's base folder. */
export const readOf = (p: string): string => (hasGlob(p) ? splitGlob(p).base : path.resolve(p));

/**
 * The uncompressed model `compare: true` reads: idp-compress.json's `source` in the model's folder,
 * or undefined when there is none (the engine then refuses the comparison).
 */
export function compareSource(model: string): string | undefined {
  try {
    const src = (JSON.parse(fs.readFileSync(path.join(model, 'idp-compress.json'), 'utf8')) as { source?: unknown }).source;
    return str(src);
  } catch {
    return undefined;
  }
}

/** `name=FILE` task files, and the staged data folder when a task without a file reads it. */
function taskReads(p: Obj): string[] {
  const tasks = strs(p.tasks).flatMap((t) => t.split(',')).map((t) => t.trim()).filter(Boolean);
  const files = tasks.filter((t) => t.includes('=')).map((t) => t.slice(t.indexOf('=') + 1)).filter(Boolean);
  // held-out text_* tasks read `heldout`; every other task without a file is looked up in the data folder
  const needsData = str(p.dataDir) !== undefined || tasks.some((t) => !t.includes('=') && !t.startsWith('text_'));
  return [...files, ...(needsData ? [str(p.dataDir) ?? defaultDataDir()] : [])];
}

/** Training / calibration data: files and globs ('model' samples text from the model: nothing read). */
const dataReads = (v: unknown): string[] => strs(v).filter((x) => x !== 'model');

/** The paths `method` with `params` reads and writes, resolved to absolute paths. */
export function requestPaths(method: string, params: unknown, ctx: RequestContext = {}): RequestPaths {
  const p: Obj = params && typeof params === 'object' && !Array.isArray(params) ? (params as Obj) : {};
  const reads: Array<string | undefined> = [];
  const writes: Array<string | undefined> = [];
  switch (method) {
    case Methods.load.method:
      reads.push(model(p.model), str(p.tokenizer));
      break;
    case Methods.generate.method:
      reads.push(str(p.bank));
      break;
    case Methods.inspect.method: {
      const inspected = str(p.model) ?? ctx.loadedModel;
      reads.push(str(p.bank), model(p.model), str(p.tokenizer));
      if (typeof p.compare === 'string') reads.push(model(p.compare));
      else if (p.compare === true && inspected) reads.push(model(compareSource(inspected)));
      break;
    }
    case Methods.compress.method:
      reads.push(model(p.model), str(p.tokenizer), ...dataReads(p.calib));
      writes.push(str(p.out));
      break;
    case Methods.trainBank.method:
    case Methods.trainBaseline.method:
      reads.push(model(p.model), str(p.tokenizer), ...dataReads(p.data), ...strs(p.eval));
      // trainBank: each prompt's own data (null: the shared data)
      if (Array.isArray(p.promptData)) for (const d of p.promptData) reads.push(...dataReads(d));
      writes.push(str(p.out));
      break;
    case Methods.bench.method: {
      reads.push(model(p.model), str(p.tokenizer), str(p.adapter), str(p.bank), ...strs(p.heldout), ...taskReads(p));
      const out = str(p.out);
      if (out) {
        const r = reportPaths(out);
        writes.push(r.json, r.md, r.samples);
      }
      break;
    }
    case Methods.study.method:
      reads.push(model(p.model), str(p.tokenizer), model(p.compressed), ...dataReads(p.data), ...strs(p.heldout), ...taskReads(p));
      // prompt:<n>@<data> methods read their own data
      reads.push(...strs(p.methods).filter((x) => x.includes('@')).map((x) => x.slice(x.indexOf('@') + 1)));
      writes.push(str(p.out));
      break;
    case Methods.bankEval.method:
      reads.push(str(p.model), str(p.tokenizer), str(p.bank), ...strs(p.data), ...strs(p.also));
      break;
    case Methods.ppl.method:
      reads.push(model(p.model), str(p.tokenizer), str(p.adapter), ...strs(p.data));
      break;
    case Methods.bankCompare.method:
      reads.push(model(p.model), str(p.tokenizer), str(p.bank), ...dataReads(p.data), ...strs(p.eval));
      writes.push(str(p.out));
      break;
    case Methods.bankAssemble.method:
      reads.push(model(p.model), str(p.tokenizer), ...strs(p.adapters));
      writes.push(str(p.out));
      break;
    case Methods.bankCalibrate.method:
      reads.push(model(p.model), str(p.tokenizer), ...strs(p.promptData));
      writes.push(str(p.bank));   // bank.json is rewritten in place
      break;
    default:
      break; // initialize, info, health, shutdown: no paths
  }
  const defined = (xs: Array<string | undefined>) => [...new Set(xs.filter((x): x is string => x !== undefined))];
  return { reads: defined(reads).map(readOf), writes: defined(writes).map((w) => path.resolve(w)) };
}
