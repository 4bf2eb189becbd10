// `idp bank compare`: IDP against the baselines on the same data, token budget and optimizer (the
// settings the bank's prompts were trained with): none (compressed only), each bank prompt alone
// (single prompts of several lengths, in their trained layout), the naive concatenation of the same
// prompts (Table 3 "Concat", untrained), prefix tuning at several lengths and LoRA at several ranks
// (trained here, each in <out>/runs/<method>-<key>/ and reused when the key matches). Every method is
// scored by the mean next-token NLL on the same held-out blocks, and its parameter count is given as
// the paper's appendix A counts it (params.ts). IDP also reports how often each prompt was chosen.

import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { LoadedModel } from '../models/config';
import type { Blocks } from '../train/data';
import { runTraining, TrainProgress, TrainSettings, writeTextAtomic } from '../train/trainer';
import { SoftPrompt } from '../train/methods/prompt';
import { Prefix } from '../train/methods/prefix';
import { Lora, LoraTarget } from '../train/methods/lora';
import type { TrainMethod } from '../train/methods/method';
import { AdaptedLM } from '../train/adapted';
import { CausalLM } from '../runtime/lm';
import type { SessionOptions } from '../runtime/session';
import { windowNll, LogitsScorer } from '../eval/perplexity';
import { OutputClaim, withClaim } from '../formats/output-folder';
import { inputError } from '../errors';
import type { IdpBank } from './bank';
import { modelInfo } from './bank';
import { IdpLM } from './runner';
import { concatPrompt, trainableOn } from './baselines';
import { dataKey } from './train-bank';
import { loraParams, noneParams, ParamCount, prefixParams, promptParams } from './params';

export interface CompareJob {
  model: LoadedModel;
  bank: IdpBank;
  data: { train: Blocks; eval: Blocks };
  settings: TrainSettings;
  /** Prefix lengths to train (default: none). */
  prefix: number[];
  /** LoRA ranks to train (default: none). */
  ranks: number[];
  targets: LoraTarget[];
  out: string;
  session?: SessionOptions;
  onProgress?: (p: CompareProgress) => void;
  isCancelled?: () => boolean;
  /** The caller's claim on `out` (output-folder.ts), taken before its own compute; else one is taken here. */
  claim?: OutputClaim;
}

export interface CompareProgress {
  phase: 'train' | 'eval' | 'reused';
  what: string;
  train?: TrainProgress;
}

export interface CompareRow {
  name: string;
  params: ParamCount;
  /** Mean next-token NLL on the held-out blocks (nats) and its exp. */
  evalLoss: number;
  ppl: number;
  /** IDP: how many held-out blocks chose each prompt. */
  chosen?: number[];
}

export interface CompareResult {
  status: 'done' | 'cancelled';
  rows: CompareRow[];
  evalBlocks: number;
  evalTokens: number;
}

/** Mean next-token NLL of blocks under a scorer, in batches. */
async function heldOutLoss(scorer: LogitsScorer, blocks: Blocks, batch: number, onRows?: (rows: number[][], logits: Float32Array[]) => void): Promise<number> {
  let total = 0;
  const V = scorer.config.vocabSize;
  for (let i = 0; i < blocks.count; i += batch) {
    const rows = Array.from({ length: Math.min(batch, blocks.count - i) }, (_, k) => Array.from(blocks.get(i + k)));
    const logits = await scorer.logits(rows);
    rows.forEach((r, k) => { total += windowNll(logits[k], r, V); });
    onRows?.(rows, logits);
  }
  return total / blocks.count;
}

/** Writes in place into `job.out`: an absent or empty folder, or a comparison IDP Lab wrote (trained runs reused). */
export async function compareMethods(job: CompareJob): Promise<CompareResult> {
  return withClaim(job.claim, job.out, { kind: 'compare', mode: 'in-place' }, (claim) => compareClaimed(job, claim));
}

async function compareClaimed(job: CompareJob, claim: OutputClaim): Promise<CompareResult> {
  const { model: m, bank, settings: s } = job;
  const c = m.config;
  const ev = job.data.eval;
  if (ev.count < 1) throw inputError('no held-out blocks to compare on');
  const out = claim.open();
  fs.mkdirSync(path.join(out, 'runs'), { recursive: true });
  const session = { threads: 1, ...job.session, sharedWeights: true };
  const batch = s.batchSize;
  const rows: CompareRow[] = [];
  const row = (name: string, params: ParamCount, loss: number, chosen?: number[]) => rows.push({ name, params, evalLoss: loss, ppl: Math.exp(loss), ...(chosen ? { chosen } : {}) });
  const evalOne = async (name: string, scorer: LogitsScorer) => {
    job.onProgress?.({ phase: 'eval', what: name });
    return heldOutLoss(scorer, ev, batch);
  };

  row('none', noneParams(), await evalOne('none', new CausalLM(m, session)));
  for (const [i, p] of bank.info.entries()) {
    const sp = new SoftPrompt(m, bank.prompts[i], p.n, 'random', undefined, p.start);
    row(`prompt ${p.n} (at ${p.start})`, promptParams(c, [p.n], 'prompt'), await evalOne(`prompt ${i}`, new AdaptedLM(sp, session)));
  }
  const cat = concatPrompt(bank);
  if (cat.n + s.seqLen <= c.maxPositions) {
    const sp = new SoftPrompt(m, cat.embeddings, cat.n, 'random', undefined, 0);
    row(`concat ${bank.info.map((p) => p.n).join('+')}`, promptParams(c, bank.info.map((p) => p.n), 'concat'), await evalOne('concat', new AdaptedLM(sp, session)));
  }
  const idp = new IdpLM(m, bank, session);
  const chosen = new Array(bank.m).fill(0);
  job.onProgress?.({ phase: 'eval', what: 'idp' });
  const idpScorer: LogitsScorer = {
    config: idp.config,
    logits: async (seqs) => {
      const r = await idp.score(seqs);
      r.selected.forEach((k) => chosen[k]++);
      return r.logits;
    },
  };
  const idpLoss = await heldOutLoss(idpScorer, ev, batch);
  row(`IDP ${bank.info.map((p) => p.n).join('+')} (layer ${idp.selectionLayer}, ${bank.score})`, promptParams(c, bank.info.map((p) => p.n), 'idp'), idpLoss, chosen);

  // trained baselines: same data, settings and optimizer
  const key = (what: Record<string, unknown>) => crypto.createHash('sha256')
    .update(JSON.stringify({ ...what, data: dataKey(job.data), model: modelInfo(m).weights, settings: s })).digest('hex').slice(0, 10);
  const trained = async (name: string, dir: string, make: () => Promise<TrainMethod> | TrainMethod, load: (adapter: string) => TrainMethod): Promise<TrainMethod | undefined> => {
    const adapter = path.join(dir, 'adapter');
    if (fs.existsSync(path.join(dir, 'result.json')) && fs.existsSync(adapter)) {
      job.onProgress?.({ phase: 'reused', what: name });
      return load(adapter);
    }
    const method = await make();
    const r = await runTraining({
      method: trainableOn(m, method), data: job.data, out: dir, settings: s, session: job.session,
      isCancelled: job.isCancelled, onProgress: (p) => job.onProgress?.({ phase: 'train', what: name, train: p }),
    });
    return r.status === 'done' ? method : undefined;
  };
  for (const t of job.prefix) {
    const name = `prefix ${t}`;
    const p = await trained(name, path.join(out, 'runs', `prefix-${t}-${key({ prefix: t })}`), () => Prefix.create(m, { tokens: t, seed: s.seed }), (a) => Prefix.load(m, a));
    if (!p) return { status: 'cancelled', rows, evalBlocks: ev.count, evalTokens: ev.count * ev.T };
    row(name, prefixParams(c, t), await evalOne(name, new AdaptedLM(p, session)));
  }
  for (const r of job.ranks) {
    const name = `LoRA r=${r}`;
    const l = await trained(name, path.join(out, 'runs', `lora-r${r}-${key({ rank: r, targets: job.targets })}`),
      () => Lora.create(m, { rank: r, targets: job.targets, seed: s.seed }), (a) => Lora.load(m, a));
    if (!l) return { status: 'cancelled', rows, evalBlocks: ev.count, evalTokens: ev.count * ev.T };
    row(name, loraParams(c, r, job.targets), await evalOne(name, new AdaptedLM(l, session)));
  }
  const result: CompareResult = { status: 'done', rows, evalBlocks: ev.count, evalTokens: ev.count * ev.T };
  writeTextAtomic(path.join(out, 'compare.json'), JSON.stringify({ ...result, settings: s, bank: bank.info }, null, 2) + '\n');
  return result;
}

/** The comparison as a text table (the paper's parameter counts and this engine's). */
export function compareTable(r: CompareResult): string {
  const head = ['method', 'params (App. A)', 'trained', 'stored', 'held-out NLL', 'ppl', 'chosen'];
  const fmt = (n: number) => n.toLocaleString('en-US');
  const lines = r.rows.map((x) => [x.name, fmt(x.params.paper), fmt(x.params.trained), fmt(x.params.stored), x.evalLoss.toFixed(4), x.ppl.toFixed(2), x.chosen ? x.chosen.join('/') : '']);
  const w = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const line = (cells: string[]) => cells.map((v, i) => (i === 0 ? v.padEnd(w[i]) : v.padStart(w[i]))).join('  ');
  return [line(head), ...lines.map(line)].join('\n');
}
