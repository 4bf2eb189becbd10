// `idp bank assemble` (a bank from PEFT prompt-tuning adapters trained separately) and `idp bank calibrate`
// (fit the bank's selection from each prompt's own text, engine/idp/calibrate-bank.ts).

import * as fs from 'fs';
import * as path from 'path';
import { Command, Option } from 'commander';
import { loadModel } from '../engine/models/load';
import { defaultModelPath } from '../engine/defaults';
import { inputError } from '../engine/errors';
import { documentIds } from '../engine/train/data';
import { PROMPT_INPUT, SoftPrompt } from '../engine/train/methods/prompt';
import { ADAPTER_CONFIG } from '../engine/train/peft';
import { IdpBank, SelectionScore } from '../engine/idp/bank';
import { calibrateBank, CalibrateResult } from '../engine/idp/calibrate-bank';
import { claimOutput, MARKER, OutputClaim } from '../engine/formats/output-folder';
import { reportError } from './errors';
import { cancellable } from './training';
import { collect, int, threadsFor } from './options';

/** A run folder of `idp train --method prompt` or its adapter/ folder → the adapter folder. */
export function adapterDir(dir: string): string {
  const sub = path.join(dir, 'adapter');
  return fs.existsSync(path.join(sub, ADAPTER_CONFIG)) ? sub : dir;
}

export function calibrationTable(r: CalibrateResult): string {
  const lines = ['layer  paper rule  calibrated (cross-validated)  on its own documents  shrinkage'];
  for (const l of r.layers) {
    const pct = (x: number) => `${(100 * x).toFixed(1)} %`.padStart(7);
    lines.push(`${String(l.layer).padStart(5)}${l.layer === r.layer ? '*' : ' '} ${pct(l.paperAccuracy).padStart(10)}  ${pct(l.cvAccuracy).padStart(28)}  ${pct(l.trainAccuracy).padStart(20)}  ${l.shrinkage}`);
  }
  return lines.join('\n');
}

interface AssembleFlags { model?: string; tokenizer?: string; out: string; positions?: number; selectionLayer: number; score: SelectionScore; threads?: number; overwrite?: boolean }

async function runAssemble(adapters: string[], f: AssembleFlags): Promise<void> {
  let claim: OutputClaim | undefined;
  try {
    if (!adapters.length) throw inputError('give the adapter folders of the prompts, in bank order');
    const out = path.resolve(f.out);
    // output-folder.ts: never the working / home folder, an IDP Lab folder or an empty one, locked before any compute
    claim = claimOutput(out, { kind: 'bank', mode: 'in-place' });
    if (fs.existsSync(path.join(out, 'bank.json')) && !f.overwrite) throw inputError(`${out} already holds a bank: give --overwrite to replace it`);
    if (fs.existsSync(out) && !fs.existsSync(path.join(out, 'bank.json')) && fs.readdirSync(out).filter((n) => n !== MARKER).length) throw inputError(`${out} is not empty and holds no bank: choose another --out`);
    const m = await loadModel(f.model ?? defaultModelPath(), { tokenizer: f.tokenizer });
    const prompts = adapters.map((d) => SoftPrompt.load(m, adapterDir(d)));
    const bank = IdpBank.fromPrompts(m, prompts.map((p) => ({ embeddings: p.params.get(PROMPT_INPUT)!.data, n: p.n })), {
      positions: f.positions, selectionLayer: f.selectionLayer, score: f.score, sources: adapters.map((d) => path.resolve(d)),
    });
    claim.open();
    await bank.save(out, m, { threads: threadsFor(m, f.threads) });
    process.stdout.write(`IDP bank of ${prompts.length} prompts (${prompts.map((p) => p.n).join(', ')} tokens, right-aligned to position ${bank.positions}); wrote ${out}\n`);
  } catch (e) {
    process.exitCode = reportError(e);
  } finally {
    claim?.release();
  }
}

interface CalibrateFlags {
  model?: string; tokenizer?: string; bank: string; promptData: string[]; layer?: number; maxDocs: number; maxTokens: number;
  threads?: number; json?: boolean;
}

async function runCalibrate(f: CalibrateFlags): Promise<void> {
  await cancellable(async (isCancelled) => {
    const log = (s: string) => { if (!f.json) process.stderr.write(`${s}\n`); };
    const m = await loadModel(f.model ?? defaultModelPath(), { tokenizer: f.tokenizer });
    const bank = IdpBank.load(f.bank, m, { onWarning: log });
    if (f.promptData.length !== bank.m) throw inputError(`give one --prompt-data per prompt, in bank order: the bank has ${bank.m} prompts, got ${f.promptData.length}`);
    const tok = m.tokenizer;
    if (!tok) throw inputError('the model has no tokenizer: give --tokenizer', m.source);
    const documents = f.promptData.map((file) => documentIds(file, tok, m.config, { maxDocs: f.maxDocs, maxTokens: f.maxTokens }).ids);
    const r = await calibrateBank({
      model: m, bank, documents, layer: f.layer, session: { threads: threadsFor(m, f.threads) }, isCancelled,
      onProgress: (done, of) => log(`reading the prompts' attention: ${done}/${of} documents`),
    });
    if (r.status === 'cancelled') { process.exitCode = 130; return; }
    await bank.saveSettings(f.bank, m, { threads: threadsFor(m, f.threads) });   // bank.json only: its prompts and K/V stay
    if (f.json) process.stdout.write(JSON.stringify({ bank: path.resolve(f.bank), ...r }) + '\n');
    else process.stdout.write(`${calibrationTable(r)}\nselection now at layer ${r.layer} (calibrated; ${r.documents.join(' / ')} documents per prompt); wrote ${path.resolve(f.bank)}\n`);
  });
}

export function registerBankBuildCommands(bank: Command): void {
  bank.command('assemble')
    .description('make a bank from PEFT prompt-tuning adapters trained separately (idp train --method prompt runs or adapter folders), computing their K/V')
    .argument('<adapters...>', 'adapter folders (or idp train run folders), in bank order')
    .option('--model <path>', 'the model the prompts were trained for (default: the embedded default model)')
    .option('--tokenizer <path>', 'tokenizer file')
    .requiredOption('--out <dir>', 'the bank folder to write')
    .option('--positions <n>', 'N: the prompts end at N − 1 and the input starts at N (default: the longest prompt)', int('--positions', 1))
    .option('--selection-layer <l>', 'layer whose attention selects the prompt', int('--selection-layer', 0), 0)
    .addOption(new Option('--score <s>', 'prompt score: attention mass on the prompt, or its mean per prompt token').choices(['mass', 'mean']).default('mass'))
    .option('--threads <n>', 'ORT intra-op threads', int('--threads', 1))
    .option('--overwrite', 'replace a bank already in --out')
    .action(runAssemble);
  bank.command('calibrate')
    .description('fit the selection from each prompt\'s own text (per-head attention masses, linear discriminant), choose its layer, and store it in the bank')
    .option('--model <path>', 'the model the bank is for (default: the embedded default model)')
    .option('--tokenizer <path>', 'tokenizer file')
    .requiredOption('--bank <dir>', 'the bank to calibrate (bank.json is rewritten)')
    .option('--prompt-data <file>', 'text of one prompt\'s kind (text = one document, JSONL = one per "text"); one per prompt, in bank order', collect, [])
    .option('--layer <l>', 'fit and select at this layer only (default: every layer fitted, the lowest within 2 points of the best chosen)', int('--layer', 0))
    .option('--max-docs <n>', 'documents read per file', int('--max-docs', 2), 200)
    .option('--max-tokens <n>', 'tokens read per document', int('--max-tokens', 2), 256)
    .option('--threads <n>', 'ORT intra-op threads', int('--threads', 1))
    .option('--json', 'print the result as JSON')
    .action(runCalibrate);
}
