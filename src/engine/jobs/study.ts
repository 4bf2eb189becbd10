// The study job (`idp study`, idp/study): engine/study's runStudy (compress → train every method →
// benchmark every row → latency → analyses → report folder) with its options' shapes checked first
// (runStudy checks their meaning), progress as a fraction of the whole study, and a summary of the rows.

import * as path from 'path';
import { runStudy, StudyOptions, StudyProgress, StudyStage } from '../study/run';
import type { StudyReport } from '../../protocol/study-schema';
import { PRESETS } from '../study/preset';
import { ParamChecker } from './check';
import type { JobHooks } from './hooks';
import { checkModelOptions, MODEL_KEYS } from './model';

export type { StudyOptions } from '../study/run';

export interface StudyProgressValue {
  stage: StudyProgress['stage'];
  /** 0..1 of the whole study (stages weighted equally). */
  fraction: number;
  /** Finished part of the stage, 0 … 1, where known. */
  stageFraction?: number;
  message: string;
  row?: string;
  reused?: boolean;
}

export interface StudyResult {
  status: StudyReport['status'];
  /** The study folder (study.json, table.md, charts/). */
  dir: string;
  /** The compression spec used (a group size added where the model needs one). */
  compress: string;
  rows: Array<{ id: string; label: string; status: string; average?: number }>;
  seconds: number;
  /** The whole report (the engine process replies without it: it is study.json). */
  report: StudyReport;
}

/** StudyOptions' keys (src/engine/study/options.ts). */
const KEYS = [...MODEL_KEYS, 'compress', 'compressed', 'preset', 'methods', 'tokens', 'tasks', 'heldout', 'data', 'out', 'dataDir', 'limit', 'seed',
  'seqLen', 'batch', 'lr', 'weightDecay', 'targets', 'selectionLayer', 'score', 'calibSamples', 'calibSeqLen', 'latency', 'similarity', 'choices', 'addBos'] as const;

const STAGES: StudyStage[] = ['load', 'data', 'compress', 'train', 'bench', 'heldout', 'latency', 'similarity', 'routing', 'report'];

export function checkStudyOptions(p: StudyOptions, absolutePaths = false): void {
  const c = ParamChecker.of('study', p, KEYS, absolutePaths);
  checkModelOptions(c);
  c.path('out', true);
  c.path('compressed');
  c.oneOf('preset', [...PRESETS]);
  // a preset fills these where they are absent (engine/study/preset.ts); a given model needs no compress spec
  const preset = p.preset !== undefined;
  c.str('compress', !preset && p.compressed === undefined);
  c.array('methods', (x) => typeof x === 'string' && x.trim() !== '', 'a non-empty array of methods (none, prompt:<n>, concat, idp, prefix:<n>, lora:<r>)', !preset);
  c.int('tokens', 1, Number.MAX_SAFE_INTEGER, !preset);
  c.array('tasks', (x) => typeof x === 'string' && x.trim() !== '', 'a non-empty array of task names', !preset);
  if (p.heldout !== undefined && !(Array.isArray(p.heldout) && p.heldout.every(c.isPath))) c.fail('heldout', `an array of ${absolutePaths ? 'absolute ' : ''}files / globs`);
  if (p.data !== undefined && !(Array.isArray(p.data) && p.data.length > 0 && p.data.every((x) => x === 'model' || c.isPath(x)))) {
    c.fail('data', `an array of ${absolutePaths ? 'absolute ' : ''}files / globs, or ['model']`);
  }
  c.path('dataDir');
  c.int('limit', 1);
  c.int('seed', 0);
  c.int('seqLen', 2);
  c.int('batch', 1);
  c.num('lr', 0, 10, { minExclusive: true });
  c.num('weightDecay', 0, 10);
  c.array('targets', (x) => typeof x === 'string' && x.trim() !== '', 'a non-empty array of LoRA targets');
  c.int('selectionLayer', 0);
  c.oneOf('score', ['mass', 'mean']);
  c.int('calibSamples', 1);
  c.int('calibSeqLen', 2);
  c.int('choices', 2, 64);
  c.bool('addBos');
  for (const k of ['latency', 'similarity'] as const) if (p[k] !== undefined && p[k] !== false && (typeof p[k] !== 'object' || p[k] === null || Array.isArray(p[k]))) c.fail(k, 'false or an object of settings');
}

export async function run(o: StudyOptions, hooks: JobHooks<StudyProgressValue> = {}): Promise<StudyResult> {
  checkStudyOptions(o, hooks.absolutePaths);
  const report = await runStudy(o, {
    signal: hooks.signal, claim: hooks.claim,
    onProgress: (e) => {
      const i = Math.max(0, STAGES.indexOf(e.stage));
      hooks.onProgress?.({
        stage: e.stage, fraction: (i + Math.min(1, Math.max(0, e.fraction ?? 0))) / STAGES.length, stageFraction: e.fraction, message: e.message, row: e.row, reused: e.reused,
      });
    },
  });
  return {
    status: report.status, dir: path.resolve(o.out), compress: report.compression.spec, seconds: report.seconds, report,
    rows: report.rows.map((r) => ({ id: r.id, label: r.label, status: r.status, average: r.aggregates?.values.Average?.value })),
  };
}
