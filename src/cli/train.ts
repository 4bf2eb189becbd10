// `idp train`: flags → the train job's options (engine/jobs/train.ts); progress on stderr, one line per
// step (tokens/s, loss, held-out loss, ETA); Ctrl-C stops after the current micro-batch with a
// checkpoint (exit 130); running again with the same --out resumes exactly where it stopped.

import { Command, Option } from 'commander';
import { LORA_TARGETS, runTrain, TRAIN_DEFAULTS } from '../engine/index';
import type { PromptInit, TrainMethodName, TrainProgressValue } from '../engine/index';
import { fmtEta, int, list, num } from './options';
import { trainingFlags, TrainingFlags, trainingOptions, runTraining } from './training';

interface TrainFlags extends TrainingFlags {
  method: TrainMethodName; promptTokens?: number; promptInit?: PromptInit; promptInitText?: string;
  rank?: number; alpha?: number; dropout?: number; targets?: string;
}

function progressLine(p: TrainProgressValue): string | undefined {
  if (p.phase === 'data') return p.message;
  if (p.phase === 'train') {
    return `step ${p.step}/${p.steps} loss ${p.loss!.toFixed(4)} lr ${p.lr!.toExponential(2)} |g| ${p.gradNorm!.toFixed(3)} ` +
      `${Math.round(p.tokensPerSecond!)} tok/s ETA ${fmtEta(p.etaSec!)}`;
  }
  if (p.phase === 'eval' && p.evalLoss !== undefined) return `step ${p.step}/${p.steps} held-out loss ${p.evalLoss.toFixed(4)} (ppl ${Math.exp(p.evalLoss).toFixed(2)})`;
  if (p.phase === 'checkpoint') return `step ${p.step}/${p.steps} checkpoint saved`;
  return undefined;
}

async function train(f: TrainFlags): Promise<void> {
  await runTraining(async (signal) => {
    const log = (s: string | undefined) => { if (s !== undefined && !f.json) process.stderr.write(`${s}\n`); };
    const r = await runTrain({
      ...trainingFlags(f), method: f.method, promptTokens: f.promptTokens, promptInit: f.promptInit, promptInitText: f.promptInitText,
      rank: f.rank, alpha: f.alpha, dropout: f.dropout, targets: f.targets === undefined ? undefined : list(f.targets),
    }, { signal, onProgress: (p) => log(progressLine(p)) });
    if (f.json) process.stdout.write(JSON.stringify(r) + '\n');
    else if (r.status === 'done') {
      process.stdout.write(`trained ${r.steps} steps (${r.tokensSeen} tokens, ${Math.round(r.tokensPerSecond)} tok/s): held-out loss ` +
        `${r.initialEvalLoss?.toFixed(4)} → ${r.evalLoss?.toFixed(4)}; wrote ${r.adapter}\n`);
    }
    if (r.status === 'cancelled') process.exitCode = 130;
  });
}

export function registerTrainCommand(program: Command): void {
  trainingOptions(program.command('train')
    .description('train a soft prompt, prefix, LoRA adapter or the full weights (resumes when --out holds a checkpoint)'),
  { out: 'output folder: checkpoint/, adapter/ (or model/), train_log.jsonl, result.json', tokens: 'token budget' })
    .addOption(new Option('--method <m>', 'what to train').choices(['prompt', 'prefix', 'lora', 'full']).makeOptionMandatory())
    .option('--prompt-tokens <n>', `prompt / prefix length (default ${TRAIN_DEFAULTS.promptTokens})`, int('--prompt-tokens', 1))
    .addOption(new Option('--prompt-init <i>', 'prompt init (default vocab; prefix: vocab or random)').choices(['vocab', 'text', 'random']))
    .option('--prompt-init-text <text>', 'text whose token embeddings initialise the prompt (--prompt-init text)')
    .option('--rank <r>', `LoRA rank (default ${TRAIN_DEFAULTS.rank})`, int('--rank', 1))
    .option('--alpha <a>', 'LoRA alpha (default 2 × rank)', num('--alpha', 0))
    .option('--dropout <p>', 'LoRA dropout (default 0)', num('--dropout', 0, 0.99))
    .option('--targets <list>', `LoRA targets, comma-separated from ${LORA_TARGETS.join(',')} (default all)`)
    .action(train);
}
