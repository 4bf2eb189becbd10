// `idp bank train --routing assign`: a bank trained on unlabelled mixed text, each document routed to one
// prompt (engine/idp/train-routed.ts). Prints every round's documents per prompt and mean losses, then the
// calibration table; --json prints the whole result instead.

import { loadModel } from '../engine/models/load';
import { defaultModelPath } from '../engine/defaults';
import type { OutputClaim } from '../engine/formats/output-folder';
import { inputError } from '../engine/errors';
import { documentIds } from '../engine/train/data';
import { planSteps } from '../engine/train/trainer';
import type { PromptInit } from '../engine/train/methods/prompt';
import type { SelectionScore } from '../engine/idp/bank';
import { promptParams, formatCount } from '../engine/idp/params';
import { RoundReport, splitHoldout, trainRouted } from '../engine/idp/train-routed';
import { calibrationTable } from './bank-build';
import { threadsFor } from './options';
import { stepLine, TrainingFlags, trainSettings } from './training';

export interface BankTrainFlags extends TrainingFlags {
  prompts: string; positions?: number; selectionLayer: number; score: SelectionScore; promptInit: PromptInit; promptInitText?: string;
  promptData: string[]; routing: 'data' | 'assign'; rounds: number; holdout: number;
}

export function roundLine(r: RoundReport): string {
  const head = r.round === 0 ? 'k-means' : `round ${r.round}`;
  const losses = r.meanLoss ? `; mean loss ${r.meanLoss.map((v) => (Number.isFinite(v) ? v.toFixed(4) : '—')).join(' / ')} (all ${r.loss!.toFixed(4)}); ${r.moved} moved` : '';
  return `${head}: documents per prompt ${r.counts.join(' / ')} (held out ${r.heldoutCounts.join(' / ')})${losses}`;
}

export async function runRoutedTrain(f: BankTrainFlags, prompts: number[], isCancelled: () => boolean, log: (s: string) => void, claim: OutputClaim): Promise<void> {
  if (!f.data.length) throw inputError('--routing assign routes documents: give them with --data FILE (text, JSONL with "text"; globs)');
  if (f.data.includes('model')) throw inputError('--routing assign needs documents of several kinds: --data model samples one kind; give files');
  if (!(f.holdout > 0 && f.holdout < 1)) throw inputError(`--holdout must be between 0 and 1, got ${f.holdout}`);
  const m = await loadModel(f.model ?? defaultModelPath(), { tokenizer: f.tokenizer });
  const tok = m.tokenizer;
  if (!tok) throw inputError('the model has no tokenizer: give --tokenizer', m.source);
  const threads = threadsFor(m, f.threads);
  const N = f.positions ?? Math.max(...prompts);
  const settings = trainSettings(f, f.seqlen ?? Math.min(256, m.config.maxPositions - N));
  planSteps(settings);
  const read = (entries: string[]) => entries.flatMap((e) => documentIds(e, tok, m.config, { maxTokens: Number.MAX_SAFE_INTEGER }).ids);
  const all = read(f.data);
  const { documents, heldout } = f.eval.length ? { documents: all, heldout: read(f.eval) } : splitHoldout(all, f.holdout);
  log(`routing ${documents.length} documents to ${prompts.length} prompts (${heldout.length} held out); k-means, then ${f.rounds} round(s) of ` +
    `${Math.floor(settings.tokens / f.rounds)} tokens per prompt and reassignment by loss`);
  const r = await trainRouted({
    model: m, lengths: prompts, positions: f.positions, documents, heldout, rounds: f.rounds, settings, init: f.promptInit, initText: f.promptInitText,
    tokenizer: tok, selectionLayer: f.selectionLayer, score: f.score, out: f.out, session: { threads }, isCancelled, claim,
    onProgress: (p) => {
      if (p.report) log(roundLine(p.report));
      else if (p.train) { const line = stepLine(`round ${p.round}/${p.rounds}, prompt ${p.prompt! + 1}`, p.train); if (line) log(line); }
      else if (p.phase === 'score' && p.done === p.total) log(`round ${p.round}: scored ${p.total} documents under every prompt`);
      else if (p.phase === 'kv') log('computing each prompt\'s K/V …');
    },
  });
  const params = promptParams(m.config, prompts, 'idp');
  if (f.json) {
    const rounds = r.rounds.map(({ runs, ...x }) => ({ ...x, ...(runs ? { runs: runs.map((y) => (y ? { run: y.run, reused: y.reused, initialEvalLoss: y.initialEvalLoss, evalLoss: y.evalLoss } : null)) } : {}) }));
    process.stdout.write(JSON.stringify({
      status: r.status, dir: r.dir, positions: N, params, rounds, assignment: r.assignment, heldoutAssignment: r.heldoutAssignment,
      ...(r.calibration ? { calibration: r.calibration } : {}), ...(r.calibrationSkipped ? { calibrationSkipped: r.calibrationSkipped } : {}),
    }) + '\n');
  } else if (r.status === 'done') {
    process.stdout.write(r.rounds.map(roundLine).join('\n') + '\n');
    if (r.calibration) {
      process.stdout.write(`${calibrationTable(r.calibration)}\nselection at layer ${r.calibration.layer} (calibrated on ${r.calibration.documents.join(' / ')} held-out documents per prompt, labelled by their final prompt)\n`);
    } else {
      process.stdout.write(`selection not calibrated: ${r.calibrationSkipped}\n`);
    }
    process.stdout.write(`IDP bank of ${prompts.length} prompts: ${formatCount(params.paper)} parameters; wrote ${r.dir} (routing.json: every document's prompt)\n`);
  }
  if (r.status === 'cancelled') process.exitCode = 130;
}
