// The bank build jobs: `idp bank assemble` (a bank from PEFT prompt-tuning adapters trained separately,
// their K/V computed) and `idp bank calibrate` (the bank's selection fitted from each prompt's own text,
// engine/idp/calibrate-bank.ts; bank.json rewritten, its prompts and K/V kept).

import * as fs from 'fs';
import * as path from 'path';
import { inputError } from '../errors';
import { documentIds } from '../train/data';
import { PROMPT_INPUT, SoftPrompt } from '../train/methods/prompt';
import { adapterDir } from '../train/peft';
import { IdpBank, SelectionScore } from '../idp/bank';
import { calibrateBank, CalibrateResult } from '../idp/calibrate-bank';
import { MARKER, withClaim } from '../formats/output-folder';
import { ParamChecker } from './check';
import { cancelledBy, JobHooks } from './hooks';
import { checkModelOptions, MODEL_KEYS, ModelOptions, openModel } from './model';

export interface BankAssembleOptions extends ModelOptions {
  /** Adapter folders (or prompt training run folders), in bank order. */
  adapters: string[];
  /** The bank folder to write. */
  out: string;
  /** N: the prompts end at N − 1 and the input starts at N (default: the longest prompt). */
  positions?: number;
  selectionLayer?: number;
  score?: SelectionScore;
  /** Replace a bank already in `out`. */
  overwrite?: boolean;
}

export interface BankAssembleResult { dir: string; prompts: number[]; positions: number }

const ASSEMBLE_KEYS = [...MODEL_KEYS, 'adapters', 'out', 'positions', 'selectionLayer', 'score', 'overwrite'] as const;

export function checkBankAssembleOptions(o: BankAssembleOptions, absolutePaths = false): void {
  const c = ParamChecker.of('bank assemble', o, ASSEMBLE_KEYS, absolutePaths);
  checkModelOptions(c);
  if (!Array.isArray(o.adapters) || !o.adapters.length) throw inputError('bank assemble: give the adapter folders of the prompts, in bank order');
  c.paths('adapters', true);
  c.path('out', true);
  c.int('positions', 1);
  c.int('selectionLayer', 0);
  c.oneOf('score', ['mass', 'mean']);
  c.bool('overwrite');
}

export async function assemble(o: BankAssembleOptions, hooks: JobHooks<never> = {}): Promise<BankAssembleResult> {
  checkBankAssembleOptions(o, hooks.absolutePaths);
  const out = path.resolve(o.out);
  // output-folder.ts: never the working / home folder, an IDP Lab folder or an empty one, locked before any compute
  return withClaim(hooks.claim, out, { kind: 'bank', mode: 'in-place' }, async (claim) => {
    if (fs.existsSync(path.join(out, 'bank.json')) && !o.overwrite) throw inputError(`${out} already holds a bank: give --overwrite to replace it`);
    if (fs.existsSync(out) && !fs.existsSync(path.join(out, 'bank.json')) && fs.readdirSync(out).filter((n) => n !== MARKER).length) throw inputError(`${out} is not empty and holds no bank: choose another --out`);
    const { m, threads } = await openModel(o);
    const prompts = o.adapters.map((d) => SoftPrompt.load(m, adapterDir(d)));
    const bank = IdpBank.fromPrompts(m, prompts.map((p) => ({ embeddings: p.params.get(PROMPT_INPUT)!.data, n: p.n })), {
      positions: o.positions, selectionLayer: o.selectionLayer ?? 0, score: o.score ?? 'mass', sources: o.adapters.map((d) => path.resolve(d)),
    });
    claim.open();
    await bank.save(out, m, { threads });
    return { dir: out, prompts: prompts.map((p) => p.n), positions: bank.positions };
  });
}

export interface BankCalibrateOptions extends ModelOptions {
  /** The bank to calibrate (bank.json is rewritten). */
  bank: string;
  /** Text of one prompt's kind, one per prompt in bank order (text = one document, JSONL = one per "text"). */
  promptData: string[];
  /** Fit and select at this layer only (default: every layer fitted, the lowest within 2 points of the best chosen). */
  layer?: number;
  /** Documents read per file (default 200), tokens read per document (default 256). */
  maxDocs?: number;
  maxTokens?: number;
}

export type BankCalibrateResult = CalibrateResult & { bank: string };

const CALIBRATE_KEYS = [...MODEL_KEYS, 'bank', 'promptData', 'layer', 'maxDocs', 'maxTokens'] as const;

export function checkBankCalibrateOptions(o: BankCalibrateOptions, absolutePaths = false): void {
  const c = ParamChecker.of('bank calibrate', o, CALIBRATE_KEYS, absolutePaths);
  checkModelOptions(c);
  c.path('bank', true);
  if (!Array.isArray(o.promptData)) c.fail('promptData', 'an array of files, one per prompt');
  if (o.promptData.length) c.paths('promptData');
  c.int('layer', 0);
  c.int('maxDocs', 2);
  c.int('maxTokens', 2);
}

/** Progress: documents read of how many. */
export interface CalibrateProgress { done: number; of: number }

export async function calibrate(o: BankCalibrateOptions, hooks: JobHooks<CalibrateProgress> = {}): Promise<BankCalibrateResult> {
  checkBankCalibrateOptions(o, hooks.absolutePaths);
  const { m, threads } = await openModel(o);
  const bank = IdpBank.load(o.bank, m, { onWarning: hooks.onWarning });
  if (o.promptData.length !== bank.m) throw inputError(`give one --prompt-data per prompt, in bank order: the bank has ${bank.m} prompts, got ${o.promptData.length}`);
  const tok = m.tokenizer;
  if (!tok) throw inputError('the model has no tokenizer: give --tokenizer', m.source);
  const documents = o.promptData.map((file) => documentIds(file, tok, m.config, { maxDocs: o.maxDocs ?? 200, maxTokens: o.maxTokens ?? 256 }).ids);
  const r = await calibrateBank({
    model: m, bank, documents, layer: o.layer, session: { threads }, isCancelled: cancelledBy(hooks.signal),
    onProgress: (done, of) => hooks.onProgress?.({ done, of }),
  });
  if (r.status === 'done') await bank.saveSettings(o.bank, m, { threads });   // bank.json only: its prompts and K/V stay
  return { bank: path.resolve(o.bank), ...r };
}
