// `idp bank train`, `idp bank compare`, `idp bank eval` and `idp inspect`: flags → the jobs' options
// (engine/jobs/bank-train, bank-compare, bank-eval, inspect), progress on stderr, results on stdout.
// `idp bank train` trains every prompt on --data, or each on its own --prompt-data (then calibrates the
// selection), or with --routing assign routes --data's documents to them. Ctrl-C stops after the current
// micro-batch with a checkpoint (exit 130) and the same command resumes; prompts already trained with the
// same settings are reused.

import { Command, Option } from 'commander';
import {
  bankEvalTable, compareTable, DEFAULT_INSPECT_TOKENS, formatCount, inputError, inspectText, LORA_TARGETS, parseLengths, roundLine, runBankCompare,
  runBankEval, runInspect, runTrainBank,
} from '../engine/index';
import type { PromptInit, ProviderSetting, SelectionRule, SelectionScore, TrainBankResult, TrainProgressValue } from '../engine/index';
import { reportError } from './errors';
import { calibrationTable, registerBankBuildCommands } from './bank-build';
import { collect, int, list, modelOptions, numAtLeast } from './options';
import { runTraining, stepLine, trainingFlags, TrainingFlags, trainingOptions } from './training';

interface BankTrainFlags extends TrainingFlags {
  prompts: string; positions?: number; selectionLayer: number; score: SelectionScore; promptInit: PromptInit; promptInitText?: string;
  promptData: string[]; routing: 'data' | 'assign'; rounds?: number; holdout?: number;
}

/** A --prompt-data entry: '-' the shared --data, 'model' sampled text, else a file / glob. */
const promptDataOf = (e: string) => (e.trim() === '-' ? null : e === 'model' ? 'model' as const : [e]);

/** The stderr line of a bank training event, or undefined. */
function bankLine(p: TrainProgressValue): string | undefined {
  if (p.phase === 'train' || p.phase === 'eval') return stepLine(p.what ?? '', p);
  if (p.phase === 'calibrate') return p.done === p.total ? `calibrating the selection: read ${p.total} held-out documents` : undefined;
  if (p.phase === 'score') return p.done === p.total ? p.message : undefined;
  if (p.phase === 'data' || p.phase === 'reused' || p.phase === 'kv' || p.phase === 'round') return p.message;
  return undefined;
}

function printBank(r: TrainBankResult, prompts: number[]): void {
  if (r.rounds) process.stdout.write(r.rounds.map(roundLine).join('\n') + '\n');
  else for (const p of r.prompts) {
    process.stdout.write(`prompt ${p.n} at ${p.start}…${p.start + p.n - 1}: held-out loss ${p.initialEvalLoss?.toFixed(4)} → ${p.evalLoss?.toFixed(4)}${p.reused ? ' (reused)' : ''}\n`);
  }
  if (r.calibration) {
    process.stdout.write(`${calibrationTable(r.calibration)}\nselection at layer ${r.calibration.layer} (calibrated on ${r.calibration.documents.join(' / ')} held-out documents per prompt` +
      `${r.rounds ? ', labelled by their final prompt' : ''})\n`);
  } else if (r.calibrationSkipped) {
    process.stdout.write(`selection not calibrated: ${r.calibrationSkipped}\n`);
  }
  process.stdout.write(`IDP bank of ${prompts.length} prompts: ${formatCount(r.params.paper)} parameters (Σn·d = ${r.params.paper}; ` +
    `with the K/V cache ${r.params.stored} floats stored); wrote ${r.dir}${r.rounds ? ' (routing.json: every document\'s prompt)' : ''}\n`);
}

async function bankTrain(f: BankTrainFlags): Promise<void> {
  await runTraining(async (signal) => {
    const prompts = parseLengths(f.prompts);
    const r = await runTrainBank({
      ...trainingFlags(f), prompts, positions: f.positions, selectionLayer: f.selectionLayer, score: f.score, promptInit: f.promptInit,
      promptInitText: f.promptInitText, promptData: f.promptData.length ? f.promptData.map(promptDataOf) : undefined, routing: f.routing,
      rounds: f.rounds, holdout: f.holdout,
    }, { signal, onProgress: (p) => { const line = bankLine(p); if (line !== undefined && !f.json) process.stderr.write(`${line}\n`); } });
    if (f.json) process.stdout.write(JSON.stringify(r) + '\n');
    else if (r.status === 'done') printBank(r, prompts);
    if (r.status === 'cancelled') process.exitCode = 130;
  });
}

interface CompareFlags extends TrainingFlags {
  bank: string; prefix?: string; ranks?: string; targets?: string; selectionLayer?: number; score?: SelectionScore;
}

async function bankCompare(f: CompareFlags): Promise<void> {
  await runTraining(async (signal) => {
    const r = await runBankCompare({
      ...trainingFlags(f), bank: f.bank, prefix: f.prefix ? parseLengths(f.prefix, '--prefix') : undefined, ranks: f.ranks ? parseLengths(f.ranks, '--ranks') : undefined,
      targets: f.targets === undefined ? undefined : list(f.targets), selectionLayer: f.selectionLayer, score: f.score,
    }, {
      signal, onWarning: (w) => { if (!f.json) process.stderr.write(`${w}\n`); },
      onProgress: (p) => { const line = p.phase === 'data' ? p.message : stepLine(p.what ?? '', p); if (line !== undefined && !f.json) process.stderr.write(`${line}\n`); },
    });
    if (f.json) process.stdout.write(JSON.stringify(r) + '\n');
    else process.stdout.write(`${compareTable(r)}\n(${r.evalBlocks} held-out blocks, ${r.evalTokens} tokens; params: appendix A's count, what this engine trains, and what it stores)\n`);
    if (r.status === 'cancelled') process.exitCode = 130;
  });
}

interface EvalFlags {
  model?: string; tokenizer?: string; bank: string; data: string[]; expect?: string; maxDocs?: number; maxTokens?: number; vote?: number;
  selectionLayer?: number; score?: SelectionScore; selection?: SelectionRule; threads?: number; ep: ProviderSetting; json?: boolean; perDocument?: boolean; also: string[];
}

/** --expect I,J,…: one 0-based prompt per data file, '-' for a file with no expected prompt. */
function parseExpect(s: string): Array<number | null> {
  return s.split(',').map((x) => {
    const t = x.trim();
    if (t === '-') return null;
    const n = Number(t);
    if (t === '' || !Number.isInteger(n) || n < 0) throw inputError(`--expect must list one prompt index (0-based) or '-' per data file, got '${s}'`);
    return n;
  });
}

async function bankEval(f: EvalFlags): Promise<void> {
  try {
    const r = await runBankEval({
      model: f.model, tokenizer: f.tokenizer, threads: f.threads, ep: f.ep, bank: f.bank, data: f.data, expect: f.expect !== undefined ? parseExpect(f.expect) : undefined,
      maxDocs: f.maxDocs, maxTokens: f.maxTokens, vote: f.vote, selectionLayer: f.selectionLayer, score: f.score, selection: f.selection,
      perDocument: f.perDocument, also: f.also.length ? f.also : undefined,
    }, {
      onWarning: (w) => process.stderr.write(`idp: ${w}\n`),
      onProgress: f.json ? undefined : (p) => process.stderr.write(`${p.entry}: ${p.done}/${p.of} documents\r${p.done === p.of ? '\n' : ''}`),
    });
    process.stdout.write(f.json ? JSON.stringify(r) + '\n' : bankEvalTable(r) + '\n');
  } catch (e) {
    process.exitCode = reportError(e);
  }
}

interface InspectFlags {
  model?: string; tokenizer?: string; bank: string; prompt?: string; ids?: string; maxTokens?: number; selectionLayer?: number; score?: SelectionScore;
  selection?: SelectionRule; compare?: string; threads?: number; ep: ProviderSetting; json?: boolean; heads?: boolean;
}

async function inspect(f: InspectFlags): Promise<void> {
  try {
    if (f.prompt !== undefined && f.ids !== undefined) throw inputError('give --prompt TEXT or --ids LIST, not both');
    let ids: number[] | undefined;
    if (f.ids !== undefined) {
      ids = f.ids.split(',').map((s) => Number(s.trim()));
      if (ids.some((x) => !Number.isInteger(x) || x < 0)) throw inputError(`--ids must be comma-separated token ids, got '${f.ids}'`);
    }
    const r = await runInspect({
      model: f.model, tokenizer: f.tokenizer, threads: f.threads, ep: f.ep, bank: f.bank, text: ids ? undefined : f.prompt ?? '', ids, maxTokens: f.maxTokens,
      heads: f.heads, selectionLayer: f.selectionLayer, score: f.score, selection: f.selection, compare: f.compare,
    }, { onWarning: (w) => process.stderr.write(`idp: ${w}\n`) });
    if (r.dropped && !f.json) process.stderr.write(`idp: the input's first ${r.dropped} tokens are left out (--max-tokens)\n`);
    if (f.json) process.stdout.write(JSON.stringify(f.compare ? r : r.report) + '\n');
    else {
      process.stdout.write(inspectText(r.report));
      if (r.compare) process.stdout.write(`\non ${r.compare.model}:\n${inspectText(r.compare.report)}`);
    }
  } catch (e) {
    process.exitCode = reportError(e);
  }
}

export function registerBankCommands(program: Command): void {
  const bank = program.command('bank').description('IDP prompt banks: train the prompts, compare with the baselines, evaluate the routing');
  trainingOptions(bank.command('train')
    .description('train a bank of soft prompts (right-aligned layout), compute their K/V and write the bank (reuses trained prompts)'),
  { out: 'output folder', tokens: 'token budget per trained prompt' })
    .requiredOption('--prompts <list>', 'prompt lengths, comma-separated (e.g. 26,100)')
    .option('--positions <n>', 'N: the prompts end at N − 1 and the input starts at N (default: the longest prompt)', int('--positions', 1))
    .option('--selection-layer <l>', 'layer whose attention selects the prompt', int('--selection-layer', 0), 0)
    .addOption(new Option('--score <s>', 'prompt score: attention mass on the prompt, or its mean per prompt token').choices(['mass', 'mean']).default('mass'))
    .addOption(new Option('--prompt-init <i>', 'prompt init').choices(['vocab', 'text', 'random']).default('vocab'))
    .option('--prompt-init-text <text>', 'text whose token embeddings initialise the prompts (--prompt-init text)')
    .option('--prompt-data <file>', 'one prompt\'s own training text (file, quoted glob, JSONL, or "model"; \'-\': the shared --data); one per prompt, in order — with every prompt on its own data the selection is calibrated on their held-out documents', collect, [] as string[])
    .addOption(new Option('--routing <how>', 'data: each prompt trains on its data (--prompt-data, else --data); assign: the --data documents are routed to the prompts (k-means, then rounds of training and reassignment by loss) and the selection calibrated on the result').choices(['data', 'assign']).default('data'))
    .option('--rounds <n>', 'with --routing assign: rounds of training + reassignment (the budget is split over them; default 3)', int('--rounds', 1))
    .option('--holdout <share>', 'with --routing assign: share of the documents held out (held-out loss, calibration) unless --eval gives them (default 0.1)', numAtLeast('--holdout', 0))
    .action(bankTrain);
  trainingOptions(bank.command('compare')
    .description('IDP vs none / single prompts / concatenation / prefix / LoRA on the same data, budget and optimizer (held-out NLL, parameter counts)'),
  { out: 'output folder', tokens: 'token budget per trained baseline' })
    .requiredOption('--bank <dir>', 'the bank (from idp bank train)')
    .option('--prefix <list>', 'prefix-tuning lengths to train, comma-separated')
    .option('--ranks <list>', 'LoRA ranks to train, comma-separated')
    .option('--targets <list>', `LoRA targets from ${LORA_TARGETS.join(',')} (default all)`)
    .option('--selection-layer <l>', 'override the bank\'s selection layer', int('--selection-layer', 0))
    .addOption(new Option('--score <s>', 'override the bank\'s prompt score').choices(['mass', 'mean']))
    .action(bankCompare);
  modelOptions(bank.command('eval')
    .description('per data file: how many documents IDP sends to each prompt, and the mean NLL under IDP, each prompt alone, no prompt and the per-document best prompt'),
  'the model the bank is for (default: the embedded default model)')
    .requiredOption('--bank <dir>', 'the prompt bank')
    .requiredOption('--data <file...>', 'one row per file: plain text (one document) or JSONL (one document per "text"); a quoted glob makes one row of its files')
    .option('--expect <list>', 'the prompt (0-based) each data file belongs to, comma-separated in --data order (\'-\': none): routing accuracy')
    .option('--max-docs <n>', 'score the first n documents of each file', int('--max-docs', 1))
    .option('--max-tokens <n>', 'cut each document to its first n tokens, BOS included (default: the context left after the bank)', int('--max-tokens', 2))
    .option('--vote <n>', 'only the first n tokens of a document choose its prompt (default: all)', int('--vote', 1))
    .option('--selection-layer <l>', 'override the bank\'s selection layer', int('--selection-layer', 0))
    .addOption(new Option('--score <s>', 'override the bank\'s prompt score').choices(['mass', 'mean']))
    .addOption(new Option('--selection <rule>', 'the bank\'s calibrated rule (default when it has one for the layer) or the paper\'s argmax of the head-mean mass').choices(['calibrated', 'paper']))
    .option('--json', 'print one JSON object: {prompts, selection, files: [...], routingAccuracy, nll}')
    .option('--per-document', 'with --json: every document\'s figures too (files[].docs)')
    .option('--also <adapter>', 'a prompt outside the bank (PEFT prompt-tuning adapter or idp train run), scored on the same tokens (repeatable)', collect, [] as string[])
    .action(bankEval);
  registerBankBuildCommands(bank);
  modelOptions(program.command('inspect')
    .description('which prompt IDP selects for an input, the per-prompt scores and the attention maps'),
  'the model the bank is for (default: the embedded default model)')
    .requiredOption('--bank <dir>', 'the prompt bank')
    .option('--prompt <text>', 'input text (BOS first, as generation does)')
    .option('--ids <list>', 'input token ids instead of text, comma-separated')
    .option('--max-tokens <n>', `most input tokens inspected: a longer input keeps BOS and its last ones (default ${DEFAULT_INSPECT_TOKENS})`, int('--max-tokens', 1))
    .option('--compare <model>', 'also run the same input and bank on this model (the uncompressed one); --json then prints {report, compare}')
    .option('--selection-layer <l>', 'override the bank\'s selection layer', int('--selection-layer', 0))
    .addOption(new Option('--score <s>', 'override the bank\'s prompt score').choices(['mass', 'mean']))
    .addOption(new Option('--selection <rule>', 'the bank\'s calibrated rule (default when it has one for the layer) or the paper\'s argmax of the head-mean mass').choices(['calibrated', 'paper']))
    .option('--json', 'print one JSON object (selection, scores, segments, per-layer attention maps)')
    .option('--heads', 'with --json: every head\'s map too (layers[].heads [H][T][S])')
    .action(inspect);
}
