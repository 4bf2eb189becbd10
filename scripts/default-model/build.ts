// `npm run train:default-model`: rebuilds models/default from source in node_modules, with this
// engine only. Phases (progress on stderr):
//   1. corpus     the recipe's files (corpus.ts), split into training and held-out parts
//   2. tokenizer  byte-level BPE (src/engine/tokenizers/bpe-train.ts) on the training parts
//   3. data       training documents (a fraction in FIM form, fim.ts) and held-out documents,
//                 tokenized and packed into blocks
//   4. model      a freshly initialised Llama (init.ts), trained with `full` (engine/train/trainer.ts)
//   5. card       samples, figures, the FIM probe (evaluate.ts), the model card (card.ts)
//   6. output     models/default written in a temporary folder and swapped in (atomic)
//
// Intermediate state lives in --work (default .cache/default-model, git-ignored): Ctrl-C stops the
// training with a checkpoint (exit 130) and running the command again resumes it; everything before
// training is deterministic and is simply recomputed.
//
//   node out/scripts/default-model/build.js [--out DIR] [--work DIR] [--tokens N] [--threads N]
//        [--seed S] [--allow-drift] [--card-only]

import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Command, InvalidArgumentError } from 'commander';
import { packageRoot } from '../../src/engine/defaults';
import { inputError, notFound } from '../../src/engine/errors';
import { loadModel } from '../../src/engine/models/load';
import { CausalLM } from '../../src/engine/runtime/lm';
import { generate, promptIds } from '../../src/engine/runtime/generate';
import { bpeTokenizerJson, trainBpe, WordCounter } from '../../src/engine/tokenizers/bpe-train';
import { Blocks, tokenizeDocs } from '../../src/engine/train/data';
import { FullWeights } from '../../src/engine/train/methods/full';
import { renameIntoPlace, tempFolderBeside } from '../../src/engine/formats/atomic-folder';
import { DEFAULT_SETTINGS, runTraining, TrainProgress, TrainSettings, writeTextAtomic } from '../../src/engine/train/trainer';
import { reportError } from '../../src/cli/errors';
import { buildCorpus } from './corpus';
import { EOT, FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX, SPECIAL_TOKENS, trainingDocuments } from './fim';
import { countModelParams, DEFAULT_SHAPE, defaultModelConfig, writeInitialModel } from './init';
import { BuildRecord, modelCard, Sample } from './card';
import { probeFim } from './evaluate';

/** The recipe's settings: changing any of them changes the model (they are recorded in the card). */
export const RECIPE = {
  vocabSize: 4096,
  shape: DEFAULT_SHAPE,
  seqLen: 512,
  batchSize: 4,
  tokens: 1_638_400,          // 800 steps of 4 × 512 tokens: ~15 minutes at ~1,800 tokens/s
  lr: 3e-3,
  minLrRatio: 0.1,
  warmup: 0.05,
  weightDecay: 0.1,
  beta2: 0.95,
  clip: 1,
  fimRate: 0.25,
  seed: 1234,
  /** Held-out blocks evaluated (evenly spaced over the held-out stream). */
  evalBlocks: 256,
};

/** The committed model folder must stay under this (the limit). */
export const MAX_BYTES = 10_000_000;

const SAMPLE_PROMPTS = [
  'export function ',
  'interface Options {\n',
  'class Queue<T> {\n  private items: T[] = [];\n\n',
];
const FIM_EXAMPLE = { prefix: 'function add(a: number, b: number): number {\n  return ', suffix: ';\n}\n' };
/** Sampled completions for the card (greedy decoding of so small a model soon repeats itself). */
const SAMPLING = { temperature: 0.8, topK: 40, seed: 1 };

/** Training time of a run, over all the calls that trained it (steps only, and with evaluations and checkpoints). */
interface Timing { calls: number; tokens: number; stepSeconds: number; seconds: number }

interface Flags { out?: string; work?: string; tokens?: number; threads: number; seed?: number; allowDrift?: boolean; cardOnly?: boolean }

const log = (s: string) => process.stderr.write(`${s}\n`);
const mb = (n: number) => `${(n / 1e6).toFixed(2)} MB`;

/** `n` blocks evenly spaced over `b`. */
function spread(b: Blocks, n: number): Blocks {
  if (b.count <= n) return b;
  const out = new Int32Array(n * b.T);
  for (let i = 0; i < n; i++) out.set(b.get(Math.floor((i * b.count) / n)), i * b.T);
  return new Blocks(out, b.T);
}

function progressLine(p: TrainProgress): string | undefined {
  if (p.phase === 'train' && (p.step % 10 === 0 || p.step === p.steps)) {
    const eta = Math.round(p.etaSec ?? 0);
    return `  step ${p.step}/${p.steps}  loss ${p.loss!.toFixed(3)}  lr ${p.lr!.toExponential(2)}  ${Math.round(p.tokensPerSec!)} tok/s  ETA ${Math.floor(eta / 60)}m${String(eta % 60).padStart(2, '0')}s`;
  }
  if (p.phase === 'eval' && p.evalLoss !== undefined) return `  step ${p.step}/${p.steps}  held-out loss ${p.evalLoss.toFixed(3)} (ppl ${Math.exp(p.evalLoss).toFixed(1)})`;
  if (p.phase === 'checkpoint') return `  step ${p.step}/${p.steps}  checkpoint saved`;
  return undefined;
}

export async function buildDefaultModel(f: Flags, isCancelled: () => boolean): Promise<'done' | 'cancelled'> {
  const root = packageRoot();
  const out = path.resolve(f.out ?? path.join(root, 'models', 'default'));
  const work = path.resolve(f.work ?? path.join(root, '.cache', 'default-model'));
  const seed = f.seed ?? RECIPE.seed;
  const tokens = f.tokens ?? RECIPE.tokens;
  const t0 = performance.now();
  const phase: Record<string, number> = {};
  const timed = async <T>(name: string, fn: () => T | Promise<T>): Promise<T> => {
    const t = performance.now();
    const r = await fn();
    phase[name] = (performance.now() - t) / 1000;
    return r;
  };

  // 1. corpus
  const corpus = await timed('corpus', () => buildCorpus({ nodeModules: path.join(root, 'node_modules'), specialTokens: SPECIAL_TOKENS, allowDrift: f.allowDrift }));
  const trainChars = corpus.packages.reduce((a, p) => a + p.trainChars, 0);
  const heldChars = corpus.packages.reduce((a, p) => a + p.heldOutChars, 0);
  log(`[1/6] corpus: ${corpus.packages.reduce((a, p) => a + p.files, 0)} files, ${mb(trainChars + heldChars)} of text ` +
    `(${mb(heldChars)} held out in ${corpus.parts.filter((p) => p.heldOut).length} parts); ${corpus.skipped.length} files left out`);

  // 2. tokenizer
  const bpe = await timed('tokenizer', () => {
    const wc = new WordCounter(SPECIAL_TOKENS);
    for (const p of corpus.parts) if (!p.heldOut) wc.add(p.text);
    return trainBpe(wc.counts, { vocabSize: RECIPE.vocabSize, specialTokens: SPECIAL_TOKENS, isCancelled });
  });
  log(`[2/6] tokenizer: ${Object.keys(bpe.vocab).length} tokens (${bpe.merges.length} merges) from ${bpe.words} distinct words; ` +
    `${(trainChars / bpe.tokens).toFixed(2)} characters per token on the training text`);
  const tokenizerJson = JSON.stringify(bpeTokenizerJson(bpe));
  const tokenizerConfig = JSON.stringify({
    tokenizer_class: 'PreTrainedTokenizerFast', bos_token: EOT, eos_token: EOT, pad_token: EOT,
    additional_special_tokens: [FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX], model_max_length: RECIPE.shape.context,
    clean_up_tokenization_spaces: false,
  }, null, 2) + '\n';

  // 3. initial model (its tokenizer encodes the data) and data
  const cfg = defaultModelConfig(RECIPE.shape, RECIPE.vocabSize, bpe.vocab[EOT]);
  const initDir = path.join(work, 'init');
  fs.rmSync(initDir, { recursive: true, force: true });
  writeInitialModel(initDir, cfg, seed, { 'tokenizer.json': tokenizerJson, 'tokenizer_config.json': tokenizerConfig });
  const init = await loadModel(initDir);
  const tok = init.tokenizer!;
  const data = await timed('data', () => {
    const td = trainingDocuments(corpus.parts, RECIPE.fimRate, seed);
    const train = new Blocks(tokenizeDocs(td.docs, tok, cfg), RECIPE.seqLen);
    const held = new Blocks(tokenizeDocs(corpus.parts.filter((p) => p.heldOut).map((p) => p.text), tok, cfg), RECIPE.seqLen);
    return { td, train, held, evalSet: spread(held, RECIPE.evalBlocks) };
  });
  log(`[3/6] data: ${data.train.ids.length} training tokens → ${data.train.count} blocks of ${RECIPE.seqLen} ` +
    `(${data.td.fimDocs} FIM documents of ${data.td.chunks} chunks); held-out ${data.held.ids.length} tokens, ${data.evalSet.count} blocks evaluated`);

  // 4. training
  const settings: TrainSettings = {
    ...DEFAULT_SETTINGS, seqLen: RECIPE.seqLen, batchSize: RECIPE.batchSize, gradAccum: 1, tokens, lr: RECIPE.lr,
    minLrRatio: RECIPE.minLrRatio, warmup: RECIPE.warmup, schedule: 'cosine', weightDecay: RECIPE.weightDecay,
    beta2: RECIPE.beta2, clip: RECIPE.clip, evalEvery: 0, checkpointEvery: 50, seed,
  };
  // the checkpoint folder is keyed by everything that shapes the run, so only an identical run resumes
  const key = crypto.createHash('sha256').update(JSON.stringify({ RECIPE, seed, tokens }))
    .update(new Uint8Array(data.train.ids.buffer)).update(new Uint8Array(data.evalSet.ids.buffer)).digest('hex').slice(0, 16);
  const runDir = path.join(work, `run-${key}`);
  for (const old of fs.readdirSync(work)) if (/^run(-|$)/.test(old) && path.join(work, old) !== runDir) fs.rmSync(path.join(work, old), { recursive: true, force: true });
  const params = countModelParams(cfg);
  log(`[4/6] training: Llama ${params.toLocaleString('en-US')} parameters, ${tokens.toLocaleString('en-US')} tokens, ${f.threads} thread(s)`);
  // training time accumulates over interrupted and resumed calls (runDir/timing.json)
  const timingFile = path.join(runDir, 'timing.json');
  const timing: Timing = fs.existsSync(timingFile) ? JSON.parse(fs.readFileSync(timingFile, 'utf8')) : { calls: 0, tokens: 0, stepSeconds: 0, seconds: 0 };
  let stepsNow = 0;
  let tpsNow = 0;
  const r = await timed('train', () => runTraining({
    method: FullWeights.create(init), data: { train: data.train, eval: data.evalSet }, out: runDir, settings,
    session: { threads: f.threads }, isCancelled,
    onProgress: (p) => {
      if (p.phase === 'train') { stepsNow++; tpsNow = p.tokensPerSec!; }
      const l = progressLine(p);
      if (l) log(l);
    },
  }));
  if (stepsNow > 0) {
    const tokensNow = stepsNow * RECIPE.batchSize * RECIPE.seqLen;
    Object.assign(timing, { calls: timing.calls + 1, tokens: timing.tokens + tokensNow, stepSeconds: timing.stepSeconds + tokensNow / tpsNow, seconds: timing.seconds + phase.train });
    writeTextAtomic(timingFile, JSON.stringify(timing) + '\n');
  }
  if (r.status !== 'done') {
    log(`stopped at step ${r.step}/${r.steps}; the checkpoint is in ${runDir}: run the same command again to resume`);
    return 'cancelled';
  }

  // 5. figures and samples from the trained model (through the inference path)
  const trained = await loadModel(r.output!);
  const lm = new CausalLM(trained, { threads: f.threads });
  const samples: Sample[] = [];
  await timed('samples', async () => {
    for (const prompt of SAMPLE_PROMPTS) {
      const g = await generate(lm, trained.tokenizer, [promptIds(lm, trained.tokenizer, prompt)], { maxTokens: 48 });
      samples.push({ prompt, completion: g.rows[0].text });
    }
    for (const prompt of SAMPLE_PROMPTS.slice(0, 2)) {
      const g = await generate(lm, trained.tokenizer, [promptIds(lm, trained.tokenizer, prompt)], { maxTokens: 64, ...SAMPLING });
      samples.push({ prompt, completion: g.rows[0].text, sampling: `temperature ${SAMPLING.temperature}, top-k ${SAMPLING.topK}, seed ${SAMPLING.seed}` });
    }
    const fim = `${FIM_PREFIX}${FIM_EXAMPLE.prefix}${FIM_SUFFIX}${FIM_EXAMPLE.suffix}${FIM_MIDDLE}`;
    const g = await generate(lm, trained.tokenizer, [promptIds(lm, trained.tokenizer, fim)], { maxTokens: 24 });
    samples.push({ prompt: fim, completion: g.rows[0].text, fim: true, finish: g.rows[0].finish });
  });
  const fim = await timed('fimProbe', () => probeFim(lm, trained.tokenizer!, corpus.parts.filter((p) => p.heldOut), {
    eot: bpe.vocab[EOT], prefix: bpe.vocab[FIM_PREFIX], middle: bpe.vocab[FIM_MIDDLE], suffix: bpe.vocab[FIM_SUFFIX],
  }, { examples: 64, chunkChars: 600, seed }));
  const lastSteps = r.history.filter((h) => h.loss !== undefined).slice(-50);
  const record: BuildRecord = {
    recipe: { ...RECIPE, tokens, seed }, config: cfg, params, corpus: { packages: corpus.packages, skipped: corpus.skipped, trainChars, heldOutChars: heldChars },
    tokenizer: { vocab: Object.keys(bpe.vocab).length, merges: bpe.merges.length, words: bpe.words, trainCharsPerToken: trainChars / bpe.tokens, heldOutCharsPerToken: heldChars / data.held.ids.length },
    data: { trainTokens: data.train.ids.length, trainBlocks: data.train.count, fimDocs: data.td.fimDocs, plainDocs: data.td.plainDocs, chunks: data.td.chunks, heldOutTokens: data.held.ids.length, evalBlocks: data.evalSet.count },
    result: {
      steps: r.steps, tokensSeen: r.tokensSeen, tokensPerSec: timing.tokens / timing.stepSeconds, trainSeconds: timing.seconds, trainCalls: timing.calls,
      initialHeldOutLoss: r.initialEvalLoss!, heldOutLoss: r.evalLoss!,
      trainLoss: lastSteps.reduce((a, h) => a + h.loss!, 0) / lastSteps.length, trainLossSteps: lastSteps.length,
    },
    samples, fim, machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, node: process.version, threads: f.threads },
    seconds: { ...phase, total: (performance.now() - t0) / 1000 },
    curve: r.history.filter((h) => h.loss !== undefined && (h.step % 25 === 0 || h.step === r.steps)).map((h) => ({ step: h.step, tokens: h.tokens, loss: Number(h.loss!.toFixed(4)) })),
  };
  log(`[5/6] held-out loss ${record.result.initialHeldOutLoss.toFixed(3)} → ${record.result.heldOutLoss.toFixed(3)} (ppl ${Math.exp(record.result.heldOutLoss).toFixed(2)}); ` +
    `training loss (last ${lastSteps.length} steps) ${record.result.trainLoss.toFixed(3)}`);

  // 6. output: a temporary folder swapped in
  const tmp = tempFolderBeside(out);
  for (const file of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(r.output!, file), path.join(tmp, file));
  fs.writeFileSync(path.join(tmp, 'training.json'), JSON.stringify(record, null, 1) + '\n');
  fs.writeFileSync(path.join(tmp, 'README.md'), modelCard(record));
  const bytes = fs.readdirSync(tmp).reduce((a, n) => a + fs.statSync(path.join(tmp, n)).size, 0);
  if (bytes > MAX_BYTES) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw inputError(`the model folder would be ${mb(bytes)}, over the ${mb(MAX_BYTES)} limit: make the model smaller`, out);
  }
  renameIntoPlace(tmp, out);   // this script owns models/default: replaced whatever it holds
  log(`[6/6] wrote ${out} (${mb(bytes)}) in ${Math.round(record.seconds.total)} s`);
  return 'done';
}

/** Rewrite README.md of a built model folder from its training.json (after card.ts changes; no training). */
export function rewriteCard(dir: string): void {
  const file = path.join(dir, 'training.json');
  if (!fs.existsSync(file)) throw notFound(file, 'no training.json: build the model first (npm run train:default-model)');
  writeTextAtomic(path.join(dir, 'README.md'), modelCard(JSON.parse(fs.readFileSync(file, 'utf8')) as BuildRecord));
}

const int = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
  return n;
};

if (require.main === module) {
  const program = new Command('train-default-model')
    .description('rebuild the embedded default model (models/default) from source in node_modules')
    .option('--out <dir>', 'output folder (default: models/default)')
    .option('--work <dir>', 'intermediate files and the resumable checkpoint (default: .cache/default-model)')
    .option('--tokens <n>', `training tokens (default ${RECIPE.tokens})`, int('--tokens'))
    .option('--threads <n>', 'ORT intra-op threads', int('--threads'), 1)
    .option('--seed <s>', `seed (default ${RECIPE.seed})`, int('--seed'))
    .option('--allow-drift', 'accept installed package versions other than the recipe pins')
    .option('--card-only', 'only rewrite the model card (README.md) from training.json')
    .action(async (f: Flags) => {
      if (f.cardOnly) {
        try { rewriteCard(path.resolve(f.out ?? path.join(packageRoot(), 'models', 'default'))); } catch (e) { process.exitCode = reportError(e); }
        return;
      }
      let cancelled = false;
      const onSignal = () => { cancelled = true; log('\nstopping after this micro-batch (a checkpoint is kept; run again to resume)'); };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        if (await buildDefaultModel(f, () => cancelled) === 'cancelled') process.exitCode = 130;
      } catch (e) {
        process.exitCode = reportError(e);
      }
    });
  program.parseAsync(process.argv).catch((e) => process.exit(reportError(e)));
}
