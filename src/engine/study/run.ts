// `idp study` / runStudy: compress → train every method → benchmark every row → latency → analyses →
// report folder (study.json per src/protocol/study-schema.ts, table.md, charts/). Every stage reports progress, checks the
// AbortSignal between units of work, and keeps what it finished under a settings key (store.ts), so a
// study run again after an interruption reuses the compressed model, the trained methods and every
// finished row part (bench / held-out NLL / latency) and only does what is left.

import * as fs from 'fs';
import * as path from 'path';
import { loadModel, describeModel } from '../models/load';
import { parameterCount, threadsFor } from '../models/config';
import { compressModel } from '../compress/compress';
import { autoGroupSize } from '../models/quant/modules';
import { DEFAULT_SETTINGS, TrainSettings } from '../train/trainer';
import type { LoraTarget } from '../train/methods/lora';
import { modelInfo } from '../idp/bank';
import { dataKey } from '../idp/train-bank';
import { loadBenchTasks } from '../eval/bench';
import { bosNote, lmEvalAddsBos } from '../eval/requests';
import { parseTaskList } from '../eval/tasks';
import { dataDir as defaultDataDir } from '../defaults';
import { applyPreset, presetNote } from './preset';
import { describeGiven, GivenCompression } from './given';
import {
  bankLengths, bankPromptData, checkOptions, compressLabel, DEFAULT_TARGETS, parseCompress, parseMethods, settingsKey, StudyOptions, withGroupSize,
} from './options';
import { routingAnalysis } from './routing';
import { PROMPT_INPUT } from '../train/methods/prompt';
import { loadCorpus, TrainData } from '../train/data';
import { inputError } from '../errors';
import { StudyStore, writeFileAtomic, writeJsonAtomic } from './store';
import { calibrationWindows, studyData } from './data';
import { trainMethods } from './train';
import { buildRows, RowRuntime } from './rows';
import { benchRow, heldoutNll, RowBench } from './bench-row';
import { latencySettings, measureLatency, Latency, LatencySettings } from './latency';
import type { Task } from '../eval/tasks/types';
import type { Blocks } from '../train/data';
import { similarity } from './similarity';
import { studyTable } from './table';
import { meanAccuracy, writeCharts } from './charts';
import { STUDY_SCHEMA, StudyReport, StudyRow, SimilarityAnalysis, RoutingAnalysis, PromptLengthPoint } from '../../protocol/study-schema';
import { OutputClaim, withClaim } from '../formats/output-folder';

export type StudyStage = 'load' | 'data' | 'compress' | 'train' | 'bench' | 'heldout' | 'latency' | 'similarity' | 'routing' | 'report';

export interface StudyProgress {
  stage: StudyStage;
  message: string;
  /** Row the message is about. */
  row?: string;
  /** Finished part of the stage, 0 … 1, where known. */
  fraction?: number;
  /** The part was reused from an earlier run. */
  reused?: boolean;
}

export interface StudyHooks {
  onProgress?: (p: StudyProgress) => void;
  signal?: AbortSignal;
  /** The caller's claim on the study folder (output-folder.ts); else runStudy claims it before any compute. */
  claim?: OutputClaim;
}

export type { StudyOptions } from './options';

/** Writes in place into `options.out`: an absent or empty folder, or a study IDP Lab wrote (finished parts reused). */
export async function runStudy(given: StudyOptions, hooks: StudyHooks = {}): Promise<StudyReport> {
  const options = applyPreset(given);
  checkOptions(options);
  return withClaim(hooks.claim, options.out, { kind: 'study', mode: 'in-place' }, (claim) => studyClaimed(options, hooks, claim, presetNote(given, options)));
}

/** compression.path: relative to the study folder when inside it ('compressed/'), else absolute (a given model elsewhere). */
function studyPath(out: string, dir: string): string {
  const rel = path.relative(out, dir);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? `${rel.split(path.sep).join('/')}/` : path.resolve(dir);
}

async function studyClaimed(options: StudyOptions, hooks: StudyHooks, claim: OutputClaim, presetNoted?: string): Promise<StudyReport> {
  const t0 = performance.now();
  // a given compressed model: options.compress is not used (the preset's or the CLI's default may be there);
  // parsed now so that a bad spec fails before the model is loaded, again with the model's group size below
  let compress = options.compressed === undefined ? parseCompress(options.compress) : undefined;
  const methods = parseMethods(options.methods);
  const out = claim.target;
  const store = new StudyStore(out);
  const progress = (p: StudyProgress) => hooks.onProgress?.(p);
  const isCancelled = () => !!hooks.signal?.aborted;
  const seed = options.seed ?? 1234;
  const tasks = parseTaskList(options.tasks.join(','));
  const heldout = options.heldout ?? [];
  claim.open();

  progress({ stage: 'load', message: `loading ${options.model}` });
  const base = await loadModel(options.model, { tokenizer: options.tokenizer });
  const c = base.config;
  // "gptq:3" without a group: the largest group size the model's layers allow (as idp compress does)
  if (compress) compress = parseCompress(withGroupSize(compress.spec, autoGroupSize(c)));
  const threads = threadsFor(base, options.threads);
  const session = { threads };
  const lengths = bankLengths(methods);
  const prefixes = methods.filter((x) => x.kind === 'prefix').map((x) => x.size!);
  const slots = Math.max(0, lengths.reduce((a, b) => a + b, 0), ...prefixes);
  const seqLen = Math.min(options.seqLen ?? 128, c.maxPositions - slots - 1);
  const settings: TrainSettings = {
    ...DEFAULT_SETTINGS, seqLen, batchSize: options.batch ?? 8, tokens: options.tokens, lr: options.lr ?? 1e-2, weightDecay: options.weightDecay ?? DEFAULT_SETTINGS.weightDecay, warmup: 0.1, seed,
  };
  const targets = (options.targets ?? DEFAULT_TARGETS) as LoraTarget[];
  const benchTasks = loadBenchTasks(tasks, { dataDir: options.dataDir ?? defaultDataDir(), heldout, heldoutOptions: { seed, choices: options.choices ?? 4 } });

  const addBos = options.addBos ?? lmEvalAddsBos(c);   // lm-eval's rule unless --add-bos (eval/requests.ts)
  const report: StudyReport = {
    schema: STUDY_SCHEMA, status: 'partial', created: new Date().toISOString(), seconds: 0,
    model: { path: base.source, label: path.basename(base.source), arch: c.hfArchitecture, parameters: parameterCount(base) },
    compression: compress ? { spec: compress.spec, path: 'compressed/', description: compress.description } : { spec: 'given', path: path.resolve(options.compressed!), description: 'given' },
    settings: { ...(options.preset ? { preset: options.preset } : {}), methods: methods.map((m) => m.spec), tokens: options.tokens, tasks: options.tasks, heldout: heldout.map((h) => path.resolve(h)), limit: options.limit, seed, addBos },
    rows: [], analyses: {}, charts: [], table: 'table.md',
    notes: [
      `training: every method on the compressed model with the same ${options.data?.join(', ') ?? 'model-sampled (data-free)'} data, ${options.tokens} tokens, ` +
      `AdamW lr ${settings.lr}, weight decay ${settings.weightDecay} (warmup 10 %, cosine), batch ${settings.batchSize} × ${seqLen} tokens, seed ${seed}`,
      'concat is the bank\'s trained prompts concatenated (untrained as a whole, Table 3 "Concat"); its training is that of the prompts',
      `benchmark: ${bosNote(addBos)}`,
    ],
  };
  if (presetNoted) report.notes.push(presetNoted);
  if (methods.some((m) => m.kind === 'none')) report.notes.push('"none" is the compressed row (no recovery method)');
  const finish = async (status: StudyReport['status']): Promise<StudyReport> => {
    report.status = status === 'complete' && report.rows.some((r) => r.status !== 'done') ? 'partial' : status;
    report.seconds = (performance.now() - t0) / 1000;
    progress({ stage: 'report', message: 'writing table.md, charts and study.json' });
    report.charts = await writeCharts(out, report, (msg) => report.notes.push(msg));
    writeFileAtomic(path.join(out, report.table), studyTable(report));
    writeJsonAtomic(path.join(out, 'study.json'), report);
    return report;
  };

  try {
    // ---- data and compression ----
    progress({ stage: 'data', message: 'preparing training and held-out data' });
    const data = await studyData(store, base, { data: options.data ?? ['model'], heldout, seqLen, tokens: options.tokens, seed, threads: threads ?? 1 },
      isCancelled, (message) => progress({ stage: 'data', message }));
    if (isCancelled()) return finish('cancelled');
    let compressedDir: string;
    let compressKey: string;
    let given: GivenCompression | undefined;
    if (!compress) {
      // compressed elsewhere: nothing to calibrate or compress; its weights key every later part, marked
      // 'given' so that nothing this study compressed itself is ever reused for it (or the reverse)
      compressedDir = path.resolve(options.compressed!);
      progress({ stage: 'compress', message: `using the given compressed model ${compressedDir} (not compressing)`, reused: true });
    } else {
      compressedDir = path.join(out, 'compressed');
    }
    const givenModel = compress ? undefined : await loadModel(compressedDir);
    if (givenModel) {
      given = describeGiven(compressedDir, givenModel);
      compressKey = settingsKey({ given: modelInfo(givenModel).weights, model: modelInfo(base).weights });
      report.compression = { spec: 'given', path: studyPath(out, compressedDir), description: given.description, ...(given.from ? { from: given.from } : {}) };
    } else {
      const cs = compress!;
      const calib = calibrationWindows(data.train, options.calibSamples ?? 32, options.calibSeqLen ?? seqLen);
      compressKey = settingsKey({ model: modelInfo(base).weights, compress: cs, calib: dataKey({ train: data.train, eval: data.eval }), n: calib.length, len: calib[0]?.length, seed });
      const reuseCompressed = store.get<string>('compressed', compressKey) !== undefined && fs.existsSync(path.join(compressedDir, 'config.json'));
      if (reuseCompressed) {
        progress({ stage: 'compress', message: `reusing ${cs.description} model`, reused: true });
      } else {
        progress({ stage: 'compress', message: `compressing: ${cs.description}, ${calib.length} × ${calib[0]?.length} calibration tokens` });
        const r = await compressModel(base, {
          method: cs.method, bits: cs.bits, ...(cs.pattern ? { pattern: cs.pattern } : { sparsity: cs.sparsity }), groupSize: cs.groupSize, calib, samples: calib.length, seqlen: calib[0]?.length, seed,
          out: compressedDir, overwrite: true, skipUnfit: true, output: cs.dense ? 'dense' : 'gptq', threads, isCancelled,
          onProgress: (p) => progress({ stage: 'compress', message: p.message, fraction: p.layer !== undefined ? p.layer / p.layers : undefined }),
        });
        if (r.cancelled) return finish('cancelled');
        if (r.skipped.length) report.notes.push(`compression left ${r.skipped.length} layer(s) unquantized (shape unfit for the GPTQ layout): ${r.skipped.slice(0, 4).join(', ')}${r.skipped.length > 4 ? ', …' : ''}`);
        store.put('compressed', compressKey, compressedDir);
      }
    }
    const compressed = givenModel ?? await loadModel(compressedDir);
    // prompt:<n>@<data>: each such prompt's own text. 20 % of its documents (evenly spaced) are held out from
    // training: every other one calibrates the bank's selection (trainBank), the rest are the routing test
    const routingDocs: number[][][] = [];
    const promptData: Array<TrainData | undefined> = bankPromptData(methods).map((d) => {
      if (d === undefined) return undefined;
      if (!compressed.tokenizer) throw inputError('the model has no tokenizer: prompt:N@DATA needs one', compressed.source);
      const c = loadCorpus([d], compressed.tokenizer, compressed.config, { seqLen, maxEvalBlocks: 32, holdoutDocs: 0.2 });
      routingDocs.push(c.heldoutDocs.filter((_, i) => i % 2 === 1));
      return { train: c.train, eval: c.eval, heldoutDocs: c.heldoutDocs.filter((_, i) => i % 2 === 0) };
    });
    const ownData = promptData.some((d) => d !== undefined);
    if (ownData) report.notes.push(`bank prompts with their own data: ${methods.filter((x) => x.kind === 'prompt').map((x) => `${x.id} ← ${x.data ?? 'the study\'s data'}`).join('; ')}`);
    if (compress) report.compression.description = `${compress.description}${describeModel(compressed).quantization ? ` (${describeModel(compressed).quantization})` : ''}`;

    // ---- training ----
    const trained = await trainMethods({
      model: compressed, methods, data: { train: data.train, eval: data.eval }, promptData: ownData ? promptData : undefined, settings, targets, selectionLayer: options.selectionLayer, score: options.score,
      dir: path.join(out, 'train'), session, isCancelled,
      onProgress: (what, p) => progress(p === 'reused'
        ? { stage: 'train', row: what, message: `${what}: reused (trained before with these settings)`, reused: true }
        : { stage: 'train', row: what, message: `${what}: ${p.phase} step ${p.step}/${p.steps}${p.loss !== undefined ? ` loss ${p.loss.toFixed(4)}` : ''}`, fraction: p.steps ? p.step / p.steps : undefined }),
    });
    if (trained.status !== 'done') return finish('cancelled');
    if (trained.calibrationSkipped) report.notes.push(`the bank's selection is not calibrated: ${trained.calibrationSkipped}`);
    const subsets = methods.filter((x) => x.subset).map((x) => x.id);
    if (subsets.length && trained.bank?.calibration.length) {
      report.notes.push(`${subsets.join(', ')}: select by the paper's attention-mass rule (the calibration is fitted to the whole bank only)`);
    }
    const rows = await buildRows(base, compressed, given?.label ?? compressLabel(compress!), methods, trained, targets, session);

    // ---- per row: benchmark, held-out NLL, latency ----
    const common = {
      compressKey, train: settingsKey({
        settings, data: dataKey({ train: data.train, eval: data.eval }), targets, selectionLayer: options.selectionLayer ?? 0, score: options.score ?? 'mass',
        ...(ownData ? { promptData: promptData.map((d) => (d ? dataKey(d) : null)), selection: trained.bank?.selectionLayer } : {}),
      }),
    };
    // the tasks' documents themselves (held-out files may change between runs)
    // the BOS rule is in the key: reports saved under the old always-BOS rule are not reused
    const benchKey = settingsKey({ tasks: benchTasks.map((t) => [t.name, settingsKey(t.docs)]), limit: options.limit, seed, bos: options.addBos ? 'add' : 'lm-eval' });
    const lat = options.latency === false ? undefined : latencySettings(c.maxPositions, Math.max(slots, lengths.length ? Math.max(...lengths) : 0), options.latency || {});
    const ctx: RowContext = { out, store, benchTasks, heldout: data.heldout, batch: settings.batchSize, lat, limit: options.limit, seed, addBos: options.addBos, benchKey, progress, isCancelled };
    for (const [k, row] of rows.entries()) {
      if (isCancelled()) return finish('cancelled');
      const rowKey = settingsKey({ ...common, id: row.id, training: row.training?.map((t) => path.relative(out, t.run)) });   // relative: a moved study folder keeps its keys
      report.rows.push(await studyRow(ctx, row, rowKey, k / rows.length));
      await row.release();   // ORT sessions of finished rows would otherwise stay resident until V8 collects them
    }
    if (isCancelled()) return finish('cancelled');

    // ---- analyses ----
    const simOpt = options.similarity === false ? undefined : { samples: options.similarity?.samples ?? 8, seqLen: options.similarity?.seqLen ?? 64 };
    if (simOpt) {
      const texts = Array.from({ length: Math.min(simOpt.samples, data.heldout.count) }, (_, i) => Array.from(data.heldout.get(i).subarray(0, simOpt.seqLen)));
      const sk = settingsKey({ ...common, rows: rows.map((r) => r.id), texts: dataKey({ train: data.heldout, eval: data.heldout }), simOpt });
      let sim = store.get<SimilarityAnalysis>('similarity', sk);
      if (!sim) {
        progress({ stage: 'similarity', message: `cosine similarity to the uncompressed model over ${texts.length} texts` });
        sim = await similarity(rows[0], rows.slice(1), texts, session, isCancelled);
        if (sim) store.put('similarity', sk, sim);
      }
      if (sim) report.analyses.similarity = sim;
    }
    if (ownData && trained.bank) {
      const rk = settingsKey({ ...common, routing: routingDocs, rows: methods.map((x) => x.id) });
      let routing = store.get<RoutingAnalysis>('routing', rk);
      if (routing) progress({ stage: 'routing', message: 'routing: reused', reused: true });
      else {
        progress({ stage: 'routing', message: 'routing: each prompt\'s held-out text through the bank' });
        routing = await routingAnalysis({
          model: compressed, bank: trained.bank, prompts: methods.filter((x) => x.kind === 'prompt'), documents: routingDocs, calibration: trained.calibration,
          calibrationSkipped: trained.calibrationSkipped, session,
          extra: methods.filter((x) => x.kind === 'union').map((x) => {
            const u = trained.union.get(x.size!)!.method;
            return { row: x.id, embeddings: u.params.get(PROMPT_INPUT)!.data, n: u.n };
          }),
        });
        if (routing) store.put('routing', rk, routing);
      }
      if (routing) report.analyses.routing = routing;
    }
    report.analyses.promptLengths = promptLengthPoints(report.rows, (id) => rows.find((x) => x.id === id)?.prompts ?? []);
    return finish(isCancelled() ? 'cancelled' : 'complete');
  } catch (e) {
    if (isCancelled()) return finish('cancelled');
    throw e;
  }
}

interface RowContext {
  out: string;
  store: StudyStore;
  benchTasks: Task[];
  heldout: Blocks;
  batch: number;
  lat?: LatencySettings;
  limit?: number;
  seed: number;
  addBos?: boolean;
  benchKey: string;
  progress: (p: StudyProgress) => void;
  isCancelled: () => boolean;
}

/** Benchmark, held-out NLL and latency of one row, each part reused when saved with the same key. */
async function studyRow(x: RowContext, r: RowRuntime, rowKey: string, fraction: number): Promise<StudyRow> {
  const { store, out, progress, isCancelled } = x;
  const s: StudyRow = { id: r.id, label: r.label, kind: r.kind, params: r.params, headline: {}, status: 'done' };
  const reused: string[] = [];
  if (r.training?.length) {
    s.training = { tokens: r.training.reduce((a, t) => a + t.tokens, 0), seconds: +r.training.reduce((a, t) => a + t.seconds, 0).toFixed(3), finalLoss: r.training[r.training.length - 1].finalLoss };
    if (r.training.every((t) => t.reused)) reused.push('training');
  }
  try {
    const bk = `${rowKey}-${x.benchKey}`;
    let b = store.get<RowBench>(`bench-${r.id}`, bk);
    if (b && fs.existsSync(path.join(out, b.file))) reused.push('bench');
    else {
      progress({ stage: 'bench', row: r.id, message: `${r.label}: benchmark`, fraction });
      b = await benchRow(r, x.benchTasks, out, { limit: x.limit, seed: x.seed, addBos: x.addBos, isCancelled, onProgress: (p) => progress({ stage: 'bench', row: r.id, message: `${r.label}: ${p.task} ${p.done}/${p.total}` }) });
      if (!b) { s.status = 'skipped'; s.error = 'cancelled'; return s; }
      store.put(`bench-${r.id}`, bk, b);
    }
    Object.assign(s, { bench: b.file, headline: b.headline, ...(b.aggregates ? { aggregates: b.aggregates } : {}), ...(b.selection ? { selection: b.selection } : {}) });
    const hk = `${rowKey}-${dataKey({ train: x.heldout, eval: x.heldout })}`;
    let h = store.get<StudyRow['heldout']>(`heldout-${r.id}`, hk);
    if (h) reused.push('heldout');
    else {
      progress({ stage: 'heldout', row: r.id, message: `${r.label}: held-out NLL on ${x.heldout.count} blocks` });
      h = store.put(`heldout-${r.id}`, hk, await heldoutNll(r, x.heldout, x.batch));
    }
    s.heldout = h;
    const lat = x.lat;
    if (lat) {
      const lk = `${rowKey}-${settingsKey(lat)}`;
      let l = store.get<Latency>(`latency-${r.id}`, lk);
      if (l) reused.push('latency');
      else {
        progress({ stage: 'latency', row: r.id, message: `${r.label}: latency ${lat.batch} × ${lat.seqLen}` });
        l = await measureLatency(r, lat, x.seed, isCancelled);
        if (l) store.put(`latency-${r.id}`, lk, l);
      }
      if (l) s.latency = l;
    }
  } catch (e) {
    if (isCancelled()) { s.status = 'skipped'; s.error = 'cancelled'; return s; }
    s.status = 'failed';
    s.error = (e as Error).message;
  }
  if (reused.length) s.reused = reused;
  return s;
}

/**
 * Fig. 2's points: the prompt-based rows (and the compressed row at 0 tokens) with their mean accuracy and a
 * perplexity — lm-eval's word perplexity of the first task every such row has one for (text_ppl, wikitext: the
 * paper's axis), else the held-out token perplexity.
 */
export function promptLengthPoints(rows: StudyRow[], prompts: (id: string) => number[]): PromptLengthPoint[] {
  const kept = rows.filter((r) => (r.kind === 'prompt' || r.kind === 'idp' || r.kind === 'concat' || r.kind === 'compressed') && meanAccuracy(r) !== undefined);
  const wordTasks = (r: StudyRow) => Object.keys(r.headline).filter((t) => r.headline[t].metric === 'word_perplexity');
  const task = kept.length ? wordTasks(kept[0]).find((t) => kept.every((r) => wordTasks(r).includes(t))) : undefined;
  return kept.filter((r) => task !== undefined || r.heldout).map((r) => ({
    row: r.id, tokens: prompts(r.id).reduce((a, b) => a + b, 0), accuracy: meanAccuracy(r)!,
    ...(task !== undefined ? { ppl: r.headline[task].value, perplexity: 'word' as const, pplTask: task } : { ppl: r.heldout!.ppl, perplexity: 'token' as const }),
  }));
}
