// `idp bank train`, `idp bank compare`, `idp bank eval` and `idp inspect`: the IDP prompt bank from the
// command line (engine/idp). `idp bank train` trains every prompt on --data, or each on its own --prompt-data
// (then calibrates the selection), or with --routing assign routes --data's documents to them (bank-routed.ts). Training progress goes to stderr one line per step; Ctrl-C stops after the current
// micro-batch with a checkpoint (exit 130) and the same command resumes; prompts already trained with the
// same settings are reused.

import { Command, Option } from 'commander';
import { loadModel } from '../engine/models/load';
import { LoadedModel } from '../engine/models/config';
import { promptIds } from '../engine/runtime/generate';
import { defaultModelPath } from '../engine/defaults';
import { inputError } from '../engine/errors';
import { planSteps } from '../engine/train/trainer';
import { LORA_TARGETS, LoraTarget } from '../engine/train/methods/lora';
import { IdpBank, SelectionScore } from '../engine/idp/bank';
import { IdpLM } from '../engine/idp/runner';
import type { SelectionRule } from '../engine/idp/calibration';
import { parseLengths, trainBank } from '../engine/idp/train-bank';
import { compareMethods, compareTable } from '../engine/idp/compare';
import { formatCount, promptParams } from '../engine/idp/params';
import { inspectReport, inspectText } from '../engine/idp/report';
import { bankEvalTable, evalBank } from '../engine/idp/eval-bank';
import { withClaim } from '../engine/formats/output-folder';
import { reportError } from './errors';
import { adapterDir, calibrationTable, registerBankBuildCommands } from './bank-build';
import * as path from 'path';
import { PROMPT_INPUT, SoftPrompt } from '../engine/train/methods/prompt';
import { computePromptKVs } from '../engine/idp/kv';
import { cachedPromptScorer } from '../engine/idp/baselines';
import { collect, int, numAtLeast, threadsFor } from './options';
import { BankTrainFlags, runRoutedTrain } from './bank-routed';
import { cancellable, ownData, promptTrainingData, stepLine, TrainingFlags, trainingData, trainingOptions, trainSettings } from './training';

/** Model and settings for a training command. */
async function modelAndSettings(f: TrainingFlags, promptSlots: number) {
  const m = await loadModel(f.model ?? defaultModelPath(), { tokenizer: f.tokenizer });
  const threads = threadsFor(m, f.threads);
  const settings = trainSettings(f, f.seqlen ?? Math.min(256, m.config.maxPositions - promptSlots));
  planSteps(settings);
  return { m, threads, settings };
}

/** Model, settings and the shared data (read or sampled after every setting is checked). */
async function prepare(f: TrainingFlags, promptSlots: number, isCancelled: () => boolean, log: (s: string) => void) {
  if (!f.data.length) throw inputError('give training data with --data FILE (text, JSONL with "text", WikiText; globs), or --data model');
  const { m, threads, settings } = await modelAndSettings(f, promptSlots);
  const data = await trainingData(f, m, settings.seqLen, threads, isCancelled, log);
  return { m, threads, settings, data };
}

async function runBankTrain(f: BankTrainFlags): Promise<void> {
  await cancellable((isCancelled) => withClaim(undefined, f.out, { kind: 'bank', mode: 'in-place' }, async (claim) => {   // before any compute
    const log = (s: string) => { if (!f.json) process.stderr.write(`${s}\n`); };
    const prompts = parseLengths(f.prompts);
    const N = f.positions ?? Math.max(...prompts);
    if (f.routing === 'assign') {
      if (f.promptData.length) throw inputError('--prompt-data gives each prompt its data; --routing assign finds it from --data: give one or the other');
      await runRoutedTrain(f, prompts, isCancelled, log, claim);
      return;
    }
    const own = ownData(f.promptData, prompts.length);
    const shared = own.length < prompts.length || own.some((d) => !d);
    if (!shared && f.data.length) log('--data is not used: every prompt has its own --prompt-data');
    if (own.some((d) => d) && f.eval.length) log('--eval holds out text for the prompts on the shared --data only: a prompt with its own data holds out the last blocks of it');
    const { m, threads, settings, data } = shared ? await prepare(f, N, isCancelled, log) : { ...await modelAndSettings(f, N), data: undefined };
    const promptData = own.length ? await promptTrainingData(f, own, m, settings.seqLen, threads, isCancelled, log) : undefined;
    log(`bank: prompts ${prompts.join(', ')} right-aligned to position ${N}; ${settings.tokens} tokens each, batch ${settings.batchSize} × ${settings.gradAccum}, lr ${settings.lr}`);
    const r = await trainBank({
      model: m, lengths: prompts, positions: f.positions, data, promptData, settings, init: f.promptInit, initText: f.promptInitText, tokenizer: m.tokenizer,
      selectionLayer: f.selectionLayer, score: f.score, out: f.out, session: { threads }, isCancelled, claim,
      onProgress: (p) => {
        const what = `prompt ${p.prompt + 1}/${p.of} (${p.n} tokens)`;
        if (p.phase === 'reused') log(`${what}: reused (trained before with these settings)`);
        else if (p.phase === 'kv') log('computing each prompt\'s K/V …');
        else if (p.phase === 'calibrate' && p.done === p.total) log(`calibrating the selection: read ${p.total} held-out documents`);
        else if (p.train) { const line = stepLine(what, p.train); if (line) log(line); }
      },
    });
    const params = promptParams(m.config, prompts, 'idp');
    if (f.json) {
      process.stdout.write(JSON.stringify({
        status: r.status, dir: r.dir, positions: N, params, prompts: r.prompts.map(({ result: _r, ...p }) => p),
        ...(r.calibration ? { calibration: r.calibration } : {}), ...(r.calibrationSkipped ? { calibrationSkipped: r.calibrationSkipped } : {}),
      }) + '\n');
    } else if (r.status === 'done') {
      for (const p of r.prompts) {
        process.stdout.write(`prompt ${p.n} at ${p.start}…${p.start + p.n - 1}: held-out loss ${p.initialEvalLoss?.toFixed(4)} → ${p.evalLoss?.toFixed(4)}${p.reused ? ' (reused)' : ''}\n`);
      }
      if (r.calibration) {
        process.stdout.write(`${calibrationTable(r.calibration)}\nselection at layer ${r.calibration.layer} (calibrated on ${r.calibration.documents.join(' / ')} held-out documents per prompt)\n`);
      } else if (r.calibrationSkipped) {
        process.stdout.write(`selection not calibrated: ${r.calibrationSkipped}\n`);
      }
      process.stdout.write(`IDP bank of ${prompts.length} prompts: ${formatCount(params.paper)} parameters (Σn·d = ${params.paper}; ` +
        `with the K/V cache ${params.stored} floats stored); wrote ${r.dir}\n`);
    }
    if (r.status === 'cancelled') process.exitCode = 130;
  }));
}

interface CompareFlags extends TrainingFlags {
  bank: string; prefix?: string; ranks?: string; targets: string; selectionLayer?: number; score?: SelectionScore;
}

async function runBankCompare(f: CompareFlags): Promise<void> {
  await cancellable((isCancelled) => withClaim(undefined, f.out, { kind: 'compare', mode: 'in-place' }, async (claim) => {   // before any compute
    const log = (s: string) => { if (!f.json) process.stderr.write(`${s}\n`); };
    const prefix = f.prefix ? parseLengths(f.prefix, '--prefix') : [];
    const ranks = f.ranks ? parseLengths(f.ranks, '--ranks') : [];
    const peek = IdpBank.load(f.bank);
    const { m, threads, settings, data } = await prepare(f, Math.max(peek.positions, peek.slots), isCancelled, log);
    const targets = f.targets.split(',').map((t) => t.trim()).filter(Boolean);
    const bad = targets.find((t) => !(LORA_TARGETS as readonly string[]).includes(t));
    if (bad) throw inputError(`--targets: unknown target '${bad}' (use ${LORA_TARGETS.join(', ')})`);
    const bank = IdpBank.load(f.bank, m, { onWarning: log });
    if (f.selectionLayer !== undefined) bank.selectionLayer = f.selectionLayer;
    if (f.score) bank.score = f.score;
    const r = await compareMethods({
      model: m, bank, data, settings, prefix, ranks, targets: targets as LoraTarget[], out: f.out, session: { threads }, isCancelled, claim,
      onProgress: (p) => {
        if (p.phase === 'reused') log(`${p.what}: reused`);
        else if (p.phase === 'eval') log(`scoring ${p.what} on ${data.eval.count} held-out blocks …`);
        else if (p.train) { const line = stepLine(p.what, p.train); if (line) log(line); }
      },
    });
    if (f.json) process.stdout.write(JSON.stringify(r) + '\n');
    else process.stdout.write(`${compareTable(r)}\n(${r.evalBlocks} held-out blocks, ${r.evalTokens} tokens; params: appendix A's count, what this engine trains, and what it stores)\n`);
    if (r.status === 'cancelled') process.exitCode = 130;
  }));
}

interface EvalFlags {
  model?: string; tokenizer?: string; bank: string; data: string[]; expect?: string; maxDocs?: number; maxTokens?: number; vote?: number;
  selectionLayer?: number; score?: SelectionScore; selection?: SelectionRule; threads?: number; json?: boolean; perDocument?: boolean; also: string[];
}

/** --expect I,J,…: one 0-based prompt per data file, '-' for a file with no expected prompt. */
function parseExpect(list: string): Array<number | null> {
  return list.split(',').map((s) => {
    const t = s.trim();
    if (t === '-') return null;
    const n = Number(t);
    if (t === '' || !Number.isInteger(n) || n < 0) throw inputError(`--expect must list one prompt index (0-based) or '-' per data file, got '${list}'`);
    return n;
  });
}

async function runBankEval(f: EvalFlags): Promise<void> {
  try {
    const expect = f.expect !== undefined ? parseExpect(f.expect) : undefined;
    const m: LoadedModel = await loadModel(f.model ?? defaultModelPath(), { tokenizer: f.tokenizer });
    const bank = IdpBank.load(f.bank, m, { onWarning: (w) => process.stderr.write(`idp: ${w}
`) });
    if (f.score) bank.score = f.score;
    const idp = new IdpLM(m, bank, { threads: threadsFor(m, f.threads), selectionLayer: f.selectionLayer, selection: f.selection });
    // --also: prompts outside the bank (e.g. one trained on every kind of text), each as a cached prompt at 0 … n − 1
    const extra = await Promise.all(f.also.map(async (dir) => {
      const p = SoftPrompt.load(m, adapterDir(dir));
      const kv = (await computePromptKVs(m, [{ embeddings: p.params.get(PROMPT_INPUT)!.data, n: p.n, start: 0 }], { threads: threadsFor(m, f.threads) }))[0];
      return { name: path.basename(path.resolve(dir)), scorer: cachedPromptScorer(idp.lm, kv) };
    }));
    const r = await evalBank({ extra,
      idp, data: f.data, expect, maxDocs: f.maxDocs, maxTokens: f.maxTokens, vote: f.vote, perDocument: f.perDocument,
      onProgress: f.json ? undefined : (p) => process.stderr.write(`${p.entry}: ${p.done}/${p.of} documents\r${p.done === p.of ? '\n' : ''}`),
    });
    process.stdout.write(f.json ? JSON.stringify(r) + '\n' : bankEvalTable(r) + '\n');
  } catch (e) {
    process.exitCode = reportError(e);
  }
}

interface InspectFlags {
  model?: string; tokenizer?: string; bank: string; prompt?: string; ids?: string; selectionLayer?: number; score?: SelectionScore;
  selection?: SelectionRule; threads?: number; json?: boolean; heads?: boolean;
}

async function runInspect(f: InspectFlags): Promise<void> {
  try {
    const m: LoadedModel = await loadModel(f.model ?? defaultModelPath(), { tokenizer: f.tokenizer });
    const bank = IdpBank.load(f.bank, m, { onWarning: (w) => process.stderr.write(`idp: ${w}\n`) });
    if (f.score) bank.score = f.score;
    const threads = threadsFor(m, f.threads);
    const idp = new IdpLM(m, bank, { threads, selectionLayer: f.selectionLayer, selection: f.selection });
    if (f.prompt !== undefined && f.ids !== undefined) throw inputError('give --prompt TEXT or --ids LIST, not both');
    let ids: number[];
    if (f.ids !== undefined) {
      ids = f.ids.split(',').map((s) => Number(s.trim()));
      if (ids.some((x) => !Number.isInteger(x))) throw inputError(`--ids must be comma-separated token ids, got '${f.ids}'`);
    } else {
      ids = promptIds(idp.lm, m.tokenizer, f.prompt ?? '');
    }
    const r = await idp.inspect(ids, { heads: f.heads });
    const report = inspectReport(idp, ids, r, m.tokenizer);
    process.stdout.write(f.json ? JSON.stringify(report) + '\n' : inspectText(report));
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
    .option('--rounds <n>', 'with --routing assign: rounds of training + reassignment (the budget is split over them)', int('--rounds', 1), 3)
    .option('--holdout <share>', 'with --routing assign: share of the documents held out (held-out loss, calibration) unless --eval gives them', numAtLeast('--holdout', 0), 0.1)
    .action(runBankTrain);
  trainingOptions(bank.command('compare')
    .description('IDP vs none / single prompts / concatenation / prefix / LoRA on the same data, budget and optimizer (held-out NLL, parameter counts)'),
  { out: 'output folder', tokens: 'token budget per trained baseline' })
    .requiredOption('--bank <dir>', 'the bank (from idp bank train)')
    .option('--prefix <list>', 'prefix-tuning lengths to train, comma-separated')
    .option('--ranks <list>', 'LoRA ranks to train, comma-separated')
    .option('--targets <list>', `LoRA targets from ${LORA_TARGETS.join(',')}`, 'q,k,v,o,gate,up,down')
    .option('--selection-layer <l>', 'override the bank\'s selection layer', int('--selection-layer', 0))
    .addOption(new Option('--score <s>', 'override the bank\'s prompt score').choices(['mass', 'mean']))
    .action(runBankCompare);
  bank.command('eval')
    .description('per data file: how many documents IDP sends to each prompt, and the mean NLL under IDP, each prompt alone, no prompt and the per-document best prompt')
    .option('--model <path>', 'the model the bank is for (default: the embedded default model)')
    .option('--tokenizer <path>', 'tokenizer file')
    .requiredOption('--bank <dir>', 'the prompt bank')
    .requiredOption('--data <file...>', 'one row per file: plain text (one document) or JSONL (one document per "text"); a quoted glob makes one row of its files')
    .option('--expect <list>', 'the prompt (0-based) each data file belongs to, comma-separated in --data order (\'-\': none): routing accuracy')
    .option('--max-docs <n>', 'score the first n documents of each file', int('--max-docs', 1))
    .option('--max-tokens <n>', 'cut each document to its first n tokens, BOS included (default: the context left after the bank)', int('--max-tokens', 2))
    .option('--vote <n>', 'only the first n tokens of a document choose its prompt (default: all)', int('--vote', 1))
    .option('--selection-layer <l>', 'override the bank\'s selection layer', int('--selection-layer', 0))
    .addOption(new Option('--score <s>', 'override the bank\'s prompt score').choices(['mass', 'mean']))
    .option('--threads <n>', 'ORT intra-op threads', int('--threads', 1))
    .addOption(new Option('--selection <rule>', 'the bank\'s calibrated rule (default when it has one for the layer) or the paper\'s argmax of the head-mean mass').choices(['calibrated', 'paper']))
    .option('--json', 'print one JSON object: {prompts, selection, files: [...], routingAccuracy, nll}')
    .option('--per-document', 'with --json: every document\'s figures too (files[].docs)')
    .option('--also <adapter>', 'a prompt outside the bank (PEFT prompt-tuning adapter or idp train run), scored on the same tokens (repeatable)', collect, [] as string[])
    .action(runBankEval);
  registerBankBuildCommands(bank);
  program.command('inspect')
    .description('which prompt IDP selects for an input, the per-prompt scores and the attention maps')
    .option('--model <path>', 'the model the bank is for (default: the embedded default model)')
    .option('--tokenizer <path>', 'tokenizer file')
    .requiredOption('--bank <dir>', 'the prompt bank')
    .option('--prompt <text>', 'input text (BOS first, as generation does)')
    .option('--ids <list>', 'input token ids instead of text, comma-separated')
    .option('--selection-layer <l>', 'override the bank\'s selection layer', int('--selection-layer', 0))
    .addOption(new Option('--score <s>', 'override the bank\'s prompt score').choices(['mass', 'mean']))
    .addOption(new Option('--selection <rule>', 'the bank\'s calibrated rule (default when it has one for the layer) or the paper\'s argmax of the head-mean mass').choices(['calibrated', 'paper']))
    .option('--threads <n>', 'ORT intra-op threads', int('--threads', 1))
    .option('--json', 'print one JSON object (selection, scores, segments, per-layer attention maps)')
    .option('--heads', 'with --json: every head\'s map too (layers[].heads [H][T][S])')
    .action(runInspect);
}
