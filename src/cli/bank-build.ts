// `idp bank assemble` (a bank from PEFT prompt-tuning adapters trained separately) and `idp bank calibrate`
// (fit the bank's selection from each prompt's own text, engine/idp/calibrate-bank.ts).

import { Command, Option } from 'commander';
import { runBankAssemble, runBankCalibrate } from '../engine/index';
import type { CalibrateResult, SelectionScore } from '../engine/index';
import { reportError } from './errors';
import { runTraining } from './training';
import { collect, int, modelOptions } from './options';

export function calibrationTable(r: CalibrateResult): string {
  const lines = ['layer  paper rule  calibrated (cross-validated)  on its own documents  shrinkage'];
  for (const l of r.layers) {
    const pct = (x: number) => `${(100 * x).toFixed(1)} %`.padStart(7);
    lines.push(`${String(l.layer).padStart(5)}${l.layer === r.layer ? '*' : ' '} ${pct(l.paperAccuracy).padStart(10)}  ${pct(l.cvAccuracy).padStart(28)}  ${pct(l.trainAccuracy).padStart(20)}  ${l.shrinkage}`);
  }
  return lines.join('\n');
}

interface AssembleFlags { model?: string; tokenizer?: string; out: string; positions?: number; selectionLayer: number; score: SelectionScore; threads?: number; overwrite?: boolean; json?: boolean }

async function assemble(adapters: string[], f: AssembleFlags): Promise<void> {
  try {
    const r = await runBankAssemble({
      model: f.model, tokenizer: f.tokenizer, threads: f.threads, adapters, out: f.out, positions: f.positions, selectionLayer: f.selectionLayer,
      score: f.score, overwrite: !!f.overwrite,
    });
    if (f.json) process.stdout.write(JSON.stringify(r) + '\n');
    else process.stdout.write(`IDP bank of ${r.prompts.length} prompts (${r.prompts.join(', ')} tokens, right-aligned to position ${r.positions}); wrote ${r.dir}\n`);
  } catch (e) {
    process.exitCode = reportError(e);
  }
}

interface CalibrateFlags {
  model?: string; tokenizer?: string; bank: string; promptData: string[]; layer?: number; maxDocs: number; maxTokens: number;
  threads?: number; json?: boolean;
}

async function calibrate(f: CalibrateFlags): Promise<void> {
  await runTraining(async (signal) => {
    const log = (s: string) => { if (!f.json) process.stderr.write(`${s}\n`); };
    const r = await runBankCalibrate({
      model: f.model, tokenizer: f.tokenizer, threads: f.threads, bank: f.bank, promptData: f.promptData, layer: f.layer, maxDocs: f.maxDocs,
      maxTokens: f.maxTokens,
    }, { signal, onWarning: log, onProgress: (p) => log(`reading the prompts' attention: ${p.done}/${p.of} documents`) });
    if (r.status === 'cancelled') { process.exitCode = 130; return; }
    if (f.json) process.stdout.write(JSON.stringify(r) + '\n');
    else process.stdout.write(`${calibrationTable(r)}\nselection now at layer ${r.layer} (calibrated; ${r.documents.join(' / ')} documents per prompt); wrote ${r.bank}\n`);
  });
}

export function registerBankBuildCommands(bank: Command): void {
  modelOptions(bank.command('assemble')
    .description('make a bank from PEFT prompt-tuning adapters trained separately (idp train --method prompt runs or adapter folders), computing their K/V')
    .argument('<adapters...>', 'adapter folders (or idp train run folders), in bank order'),
  'the model the prompts were trained for (default: the embedded default model)', false)
    .requiredOption('--out <dir>', 'the bank folder to write')
    .option('--positions <n>', 'N: the prompts end at N − 1 and the input starts at N (default: the longest prompt)', int('--positions', 1))
    .option('--selection-layer <l>', 'layer whose attention selects the prompt', int('--selection-layer', 0), 0)
    .addOption(new Option('--score <s>', 'prompt score: attention mass on the prompt, or its mean per prompt token').choices(['mass', 'mean']).default('mass'))
    .option('--overwrite', 'replace a bank already in --out')
    .option('--json', 'print the result as JSON {dir, prompts, positions}')
    .action(assemble);
  modelOptions(bank.command('calibrate')
    .description('fit the selection from each prompt\'s own text (per-head attention masses, linear discriminant), choose its layer, and store it in the bank'),
  'the model the bank is for (default: the embedded default model)', false)
    .requiredOption('--bank <dir>', 'the bank to calibrate (bank.json is rewritten)')
    .option('--prompt-data <file>', 'text of one prompt\'s kind (text = one document, JSONL = one per "text"); one per prompt, in bank order', collect, [])
    .option('--layer <l>', 'fit and select at this layer only (default: every layer fitted, the lowest within 2 points of the best chosen)', int('--layer', 0))
    .option('--max-docs <n>', 'documents read per file', int('--max-docs', 2), 200)
    .option('--max-tokens <n>', 'tokens read per document', int('--max-tokens', 2), 256)
    .option('--json', 'print the result as JSON')
    .action(calibrate);
}
