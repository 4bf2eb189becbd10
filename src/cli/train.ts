// `idp train`: prompt / prefix / LoRA / full training (engine/train). Progress on stderr, one line per
// step (tokens/s, loss, held-out loss, ETA); Ctrl-C stops after the current micro-batch with a
// checkpoint (exit 130); running again with the same --out resumes exactly where it stopped.

import { Command, Option } from 'commander';
import { loadModel } from '../engine/models/load';
import { defaultModelPath } from '../engine/defaults';
import { inputError } from '../engine/errors';
import { planSteps, runTraining, TrainProgress } from '../engine/train/trainer';
import { SoftPrompt, PromptInit } from '../engine/train/methods/prompt';
import { Prefix } from '../engine/train/methods/prefix';
import { Lora, LORA_TARGETS, LoraTarget } from '../engine/train/methods/lora';
import { FullWeights } from '../engine/train/methods/full';
import type { TrainMethod } from '../engine/train/methods/method';
import { countParams } from '../engine/train/tensors';
import { withClaim } from '../engine/formats/output-folder';
import { fmtEta, int, num, threadsFor } from './options';
import { cancellable, TrainingFlags, trainingData, trainingOptions, trainSettings } from './training';

interface TrainFlags extends TrainingFlags {
  method: 'prompt' | 'prefix' | 'lora' | 'full'; promptTokens: number; promptInit: PromptInit; promptInitText?: string;
  rank: number; alpha?: number; dropout: number; targets: string;
}

function progressLine(p: TrainProgress): string | undefined {
  if (p.phase === 'train') {
    return `step ${p.step}/${p.steps} loss ${p.loss!.toFixed(4)} lr ${p.lr!.toExponential(2)} |g| ${p.gradNorm!.toFixed(3)} ` +
      `${Math.round(p.tokensPerSec!)} tok/s ETA ${fmtEta(p.etaSec!)}`;
  }
  if (p.phase === 'eval' && p.evalLoss !== undefined) return `step ${p.step}/${p.steps} held-out loss ${p.evalLoss.toFixed(4)} (ppl ${Math.exp(p.evalLoss).toFixed(2)})`;
  if (p.phase === 'checkpoint') return `step ${p.step}/${p.steps} checkpoint saved`;
  return undefined;
}

async function runTrain(f: TrainFlags): Promise<void> {
  await cancellable((isCancelled) => withClaim(undefined, f.out, { kind: 'train', mode: 'in-place' }, async (claim) => {   // before any compute
    if (!f.data.length) throw inputError('give training data with --data FILE (text, JSONL with "text", WikiText; globs), or --data model for a corpus sampled from the model');
    const m = await loadModel(f.model ?? defaultModelPath(), { tokenizer: f.tokenizer });
    const threads = threadsFor(m, f.threads);
    const seqLen = f.seqlen ?? Math.min(256, m.config.maxPositions - (f.method === 'prompt' || f.method === 'prefix' ? f.promptTokens : 0));
    const settings = trainSettings(f, seqLen);
    planSteps(settings);   // a bad budget or batch fails before any data is read or sampled
    const log = (s: string) => { if (!f.json) process.stderr.write(`${s}\n`); };

    // method settings are checked before any data is read or sampled
    let method: TrainMethod;
    switch (f.method) {
      case 'prompt': method = SoftPrompt.create(m, { tokens: f.promptTokens, init: f.promptInit, text: f.promptInitText, seed: f.seed, tokenizer: m.tokenizer }); break;
      case 'prefix': method = await Prefix.create(m, { tokens: f.promptTokens, init: f.promptInit === 'random' ? 'random' : 'vocab', seed: f.seed }); break;
      case 'lora': {
        const targets = f.targets.split(',').map((t) => t.trim()).filter(Boolean);
        const bad = targets.find((t) => !(LORA_TARGETS as readonly string[]).includes(t));
        if (bad) throw inputError(`--targets: unknown target '${bad}' (use ${LORA_TARGETS.join(', ')})`);
        method = Lora.create(m, { rank: f.rank, alpha: f.alpha, dropout: f.dropout, targets: targets as LoraTarget[], seed: f.seed });
        break;
      }
      case 'full': method = FullWeights.create(m); break;
    }
    const data = await trainingData(f, m, seqLen, threads, isCancelled, log);

    log(`${f.method}: ${countParams(method.params)} trainable parameters; ${settings.tokens} tokens, batch ${settings.batchSize} × ${settings.gradAccum}, lr ${settings.lr}`);

    const r = await runTraining({
      method, data, out: f.out, settings, session: { threads }, isCancelled, claim,
      onProgress: (p) => { const line = progressLine(p); if (line) log(line); },
    });
    if (f.json) {
      const { history: _h, ...summary } = r;
      process.stdout.write(JSON.stringify(summary) + '\n');
    } else if (r.status === 'done') {
      process.stdout.write(`trained ${r.steps} steps (${r.tokensSeen} tokens, ${Math.round(r.tokensPerSec)} tok/s): held-out loss ` +
        `${r.initialEvalLoss?.toFixed(4)} → ${r.evalLoss?.toFixed(4)}; wrote ${r.output}\n`);
    }
    if (r.status === 'cancelled') process.exitCode = 130;
  }));
}

export function registerTrainCommand(program: Command): void {
  trainingOptions(program.command('train')
    .description('train a soft prompt, prefix, LoRA adapter or the full weights (resumes when --out holds a checkpoint)'),
  { out: 'output folder: checkpoint/, adapter/ (or model/), train_log.jsonl, result.json', tokens: 'token budget' })
    .addOption(new Option('--method <m>', 'what to train').choices(['prompt', 'prefix', 'lora', 'full']).makeOptionMandatory())
    .option('--prompt-tokens <n>', 'prompt / prefix length', int('--prompt-tokens', 1), 20)
    .addOption(new Option('--prompt-init <i>', 'prompt init (prefix: vocab or random)').choices(['vocab', 'text', 'random']).default('vocab'))
    .option('--prompt-init-text <text>', 'text whose token embeddings initialise the prompt (--prompt-init text)')
    .option('--rank <r>', 'LoRA rank', int('--rank', 1), 8)
    .option('--alpha <a>', 'LoRA alpha (default 2 × rank)', num('--alpha', 0))
    .option('--dropout <p>', 'LoRA dropout', num('--dropout', 0, 0.99), 0)
    .option('--targets <list>', `LoRA targets, comma-separated from ${LORA_TARGETS.join(',')}`, 'q,v')
    .action(runTrain);
}
