// `idp study`: compress a model, train every recovery method on the same data / budget / optimizer,
// benchmark every row, measure latency, run the paper's analyses and write the report folder
// (engine/study). Progress on stderr; Ctrl-C stops after the current unit of work and writes what is
// finished (exit 130); running the same command again reuses every finished part.

import * as fs from 'fs';
import * as path from 'path';
import { Command, Option } from 'commander';
import { defaultModelPath, inputError, PRESET_SETTINGS, runStudyJob } from '../engine/index';
import type { StudyOptions, StudyProgressValue } from '../engine/index';
import { reportError } from './errors';
import { collect, int, list, modelOptions, numAtLeast } from './options';

interface StudyFlags {
  model?: string; tokenizer?: string; compress: string; compressed?: string; preset?: 'paper'; weightDecay?: number; methods: string; tokens?: number; tasks?: string; heldout: string[]; data: string[];
  out: string; dataDir?: string; limit?: number; seed: number; seqlen?: number; batch: number; lr: number; targets: string;
  selectionLayer: number; score: 'mass' | 'mean'; calibSamples: number; latencyBatch?: number; latencySeqlen?: number; latencyDecode: number; latencyRepeats: number;
  latency: boolean; similarity: boolean; similaritySamples: number; choices: number; addBos?: boolean; threads?: number; json?: boolean; quiet?: boolean;
}

/**
 * Flags → the plain options object runStudy takes (the same the extension sends over JSON-RPC). With a
 * preset, a setting it covers is passed only when its flag was typed (`explicit`), so that the preset
 * fills the rest and a typed flag overrides it; commander's defaults would otherwise hide the preset.
 */
export function studyOptions(f: StudyFlags, explicit: (flag: keyof StudyFlags) => boolean = () => true): StudyOptions {
  const o: StudyOptions = {
    model: f.model ?? defaultModelPath(), tokenizer: f.tokenizer, compress: f.compress, methods: list(f.methods), tokens: f.tokens!,
    tasks: list(f.tasks ?? ''), heldout: f.heldout, data: f.data.length ? f.data : ['model'], out: f.out, dataDir: f.dataDir, limit: f.limit,
    seed: f.seed, seqLen: f.seqlen, batch: f.batch, lr: f.lr, targets: list(f.targets), selectionLayer: f.selectionLayer, score: f.score,
    calibSamples: f.calibSamples, choices: f.choices, threads: f.threads, ...(f.addBos ? { addBos: true } : {}),
    latency: f.latency ? { batch: f.latencyBatch, seqLen: f.latencySeqlen, decode: f.latencyDecode, repeats: f.latencyRepeats } : false,
    similarity: f.similarity ? { samples: f.similaritySamples } : false,
    ...(f.compressed !== undefined ? { compressed: f.compressed } : {}), ...(f.weightDecay !== undefined ? { weightDecay: f.weightDecay } : {}),
    ...(f.preset ? { preset: f.preset } : {}),
  };
  // the settings a preset covers (engine/study/preset.ts) are named alike as flags and as StudyOptions
  if (f.preset) for (const k of Object.keys(PRESET_SETTINGS[f.preset])) if (!explicit(k as keyof StudyFlags)) delete (o as unknown as Record<string, unknown>)[k];
  return o;
}

function progressPrinter(quiet: boolean | undefined) {
  let last = 0;
  let lastStage = '';
  return (p: StudyProgressValue) => {
    if (quiet) return;
    const now = performance.now();
    const important = p.stage !== lastStage || p.reused || p.stage === 'report' || (p.stageFraction === undefined && p.stage !== 'bench');
    if (!important && now - last < 3000) return;
    last = now;
    lastStage = p.stage;
    process.stderr.write(`[study] ${p.stage}: ${p.message}\n`);
  };
}

async function run(f: StudyFlags, cmd: Command): Promise<void> {
  const ac = new AbortController();
  const onSignal = () => {
    if (ac.signal.aborted) process.exit(130);
    ac.abort();
    process.stderr.write('\nidp: stopping the study after this step (finished parts are kept; run the same command to resume)\n');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    if (!f.preset && (f.tokens === undefined || f.tasks === undefined)) throw inputError(`study: give ${f.tokens === undefined ? '--tokens' : '--tasks'} (or --preset paper)`);
    const { report: r, dir } = await runStudyJob(studyOptions(f, (flag) => cmd.getOptionValueSource(flag) === 'cli'), { onProgress: progressPrinter(f.quiet || f.json), signal: ac.signal });
    if (f.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else {
      process.stdout.write(fs.readFileSync(path.join(dir, r.table), 'utf8'));
      process.stdout.write(`\nwrote ${path.join(dir, 'study.json')}, ${r.table}, ${r.charts.map((c) => c.svg).join(', ')}\n`);
    }
    if (r.status === 'cancelled') process.exitCode = 130;
  } catch (e) {
    process.exitCode = reportError(e);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export function registerStudyCommand(program: Command): void {
  modelOptions(program.command('study')
    .description('compress → train every recovery method → benchmark → latency → analyses → report folder (study.json, table.md, charts/)'),
  'the uncompressed model (default: the embedded default model)', false)
    .option('--compress <spec>', 'method:bits[:gGROUP] (gptq:3, gptq:4:g64, rtn:4; without a group the largest of 128, 64, 32 dividing every layer\'s input, else one per row) or method:sparsity[:bits] (sparsegpt:0.5, sparsegpt:0.5:4, sparsegpt:2:4, magnitude:0.7)', 'gptq:3')
    .option('--compressed <dir>', 'start from a model compressed elsewhere (a GPTQ folder or any model folder): no compression step, the compressed row runs on DIR (--compress is ignored)')
    .addOption(new Option('--preset <name>', 'the paper\'s settings (§3.2, appendix A), each overridden by its flag when typed: --compress gptq:3 ' +
      '--methods none,prompt:50,prompt:100,concat,idp,lora:2,lora:3,lora:4 (IDP on §3.2.1\'s m = 50, n = 100, not Table 3\'s 26/100) ' +
      '--targets q,k,v,o,up,down (appendix A\'s layers) --tokens 40960000 --tasks paper --lr 2e-4 --weight-decay 1e-5; see docs/study.md').choices(['paper']))
    .option('--methods <list>', 'none, prompt:N, concat, idp, idp:A+B, prefix:N, lora:R (idp/concat use every prompt:N; idp:A+B a bank of those lengths, for Fig. 6)', 'none,prompt:8,prompt:32,concat,idp,prefix:8,lora:2,lora:4')
    .option('--tokens <n>', 'training token budget per method (required without --preset)', int('--tokens', 1))
    .option('--tasks <list>', 'benchmark tasks (idp bench names; text_* tasks need --heldout; required without --preset)')
    .option('--heldout <file>', 'held-out text (text_* tasks, held-out perplexity, similarity texts; repeatable)', collect, [] as string[])
    .option('--data <file>', 'training and calibration text (repeatable; default: sampled from the uncompressed model)', collect, [] as string[])
    .requiredOption('--out <dir>', 'report folder (finished parts in it are reused by a rerun)')
    .option('--data-dir <dir>', 'staged data root for the paper tasks (default $IDP_DATA)')
    .option('--limit <n>', 'seeded subsample of n documents per task', int('--limit', 1))
    .option('--seed <s>', 'seed (data, init, subsample, distractors)', int('--seed', 0), 1234)
    .option('--seqlen <n>', 'training tokens per row (default min(128, context − prompt slots − 1))', int('--seqlen', 2))
    .option('--batch <n>', 'training rows per step', int('--batch', 1), 8)
    .option('--lr <x>', 'peak learning rate (AdamW, every method)', numAtLeast('--lr', 0), 1e-2)
    .option('--weight-decay <x>', 'AdamW weight decay (default 1e-5)', numAtLeast('--weight-decay', 0))
    .option('--targets <list>', 'LoRA targets', 'q,k,v,o,gate,up,down')
    .option('--selection-layer <l>', 'IDP selection layer', int('--selection-layer', 0), 0)
    .addOption(new Option('--score <s>', 'IDP selection score').choices(['mass', 'mean']).default('mass'))
    .option('--calib-samples <n>', 'GPTQ calibration windows (from the training data)', int('--calib-samples', 1), 32)
    .option('--latency-batch <n>', 'latency: rows per batch (default 4)', int('--latency-batch', 1))
    .option('--latency-seqlen <n>', 'latency: input tokens per row (default min(128, context/4))', int('--latency-seqlen', 1))
    .option('--latency-decode <n>', 'latency: decode tokens', int('--latency-decode', 1), 16)
    .option('--latency-repeats <n>', 'latency: timed repeats per row (the fastest is reported)', int('--latency-repeats', 1), 3)
    .option('--no-latency', 'skip the latency measurement')
    .option('--no-similarity', 'skip the similarity analysis')
    .option('--similarity-samples <n>', 'held-out texts for the similarity analysis', int('--similarity-samples', 1), 8)
    .option('--choices <n>', 'choices per held-out multiple-choice item', int('--choices', 2), 4)
    .option('--add-bos', 'benchmark contexts with BOS first (default: lm-eval\'s rule, none except for Gemma); training and perplexity keep theirs')
    .option('--quiet', 'no progress lines')
    .option('--json', 'print study.json instead of the table')
    .action(run);
}
