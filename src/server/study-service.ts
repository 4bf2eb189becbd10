// idp/study in the engine process: src/engine/study's runStudy (compress → train every method →
// benchmark every row → latency → analyses → report folder) in-process, with its progress streamed and
// the request's cancellation turned into runStudy's AbortSignal.

import { runStudy, StudyStage } from '../engine/study/run';
import type { StudyParams, StudyProgressValue, StudyReply } from './workflow-protocol';
import { ParamChecker } from './params';
import { autoGroupSize } from './compress-service';
import { loadModel } from '../engine/models/load';
import type { Cancellation } from './engine-service';
import { OutputClaim, withClaim } from '../engine/formats/output-folder';
import { PRESETS } from '../engine/study/preset';

/** StudyOptions' keys (src/engine/study/options.ts); runStudy checks the values. */
const KEYS = ['model', 'tokenizer', 'compress', 'compressed', 'preset', 'methods', 'tokens', 'tasks', 'heldout', 'data', 'out', 'dataDir', 'limit', 'seed', 'seqLen',
  'batch', 'lr', 'weightDecay', 'targets', 'selectionLayer', 'score', 'calibSamples', 'calibSeqLen', 'latency', 'similarity', 'choices', 'threads', 'progressToken'] as const;

const STAGES: StudyStage[] = ['load', 'data', 'compress', 'train', 'bench', 'heldout', 'latency', 'similarity', 'routing', 'report'];

export function checkStudyParams(p: StudyParams): void {
  const c = ParamChecker.of('study', p, KEYS);
  c.model('model', true);
  c.path('out', true);
  c.path('tokenizer');
  c.path('compressed');
  c.oneOf('preset', [...PRESETS]);
  // a preset fills these where they are absent (engine/study/preset.ts); a given model needs no compress spec
  const preset = p.preset !== undefined;
  c.str('compress', !preset && p.compressed === undefined);
  c.array('methods', (x) => typeof x === 'string' && x.trim() !== '', 'a non-empty array of methods (none, prompt:<n>, concat, idp, prefix:<n>, lora:<r>)', !preset);
  c.int('tokens', 1, Number.MAX_SAFE_INTEGER, !preset);
  c.array('tasks', (x) => typeof x === 'string' && x.trim() !== '', 'a non-empty array of task names', !preset);
  if (p.heldout !== undefined && !(Array.isArray(p.heldout) && p.heldout.every((x) => typeof x === 'string'))) c.fail('heldout', 'an array of files / globs');
  if (p.data !== undefined && !(Array.isArray(p.data) && p.data.length > 0 && p.data.every((x) => typeof x === 'string'))) c.fail('data', "an array of files / globs, or ['model']");
  c.path('dataDir');
  c.int('limit', 1);
  c.int('seed', 0);
  c.int('seqLen', 2);
  c.int('batch', 1);
  c.num('lr', 0, 10, { minExclusive: true });
  c.num('weightDecay', 0, 10);
  c.int('selectionLayer', 0);
  c.oneOf('score', ['mass', 'mean']);
  c.int('calibSamples', 1);
  c.int('calibSeqLen', 2);
  c.int('choices', 2, 64);
  c.int('threads', 1);
  c.progressToken();
}

export async function runStudyRequest(p: StudyParams, token: Cancellation, onProgress?: (v: StudyProgressValue) => void): Promise<StudyReply> {
  checkStudyParams(p);
  return withClaim(undefined, p.out, { kind: 'study', mode: 'in-place' }, (claim) => studyClaimed(p, claim, token, onProgress));   // before any compute
}

async function studyClaimed(p: StudyParams, claim: OutputClaim, token: Cancellation, onProgress?: (v: StudyProgressValue) => void): Promise<StudyReply> {
  const { progressToken: _t, ...options } = p;
  // "gptq:4" without a group: the largest group size the model's layers allow (as idp/compress does)
  if (options.compressed === undefined && typeof options.compress === 'string' && /^[a-z]+:\d+$/.test(options.compress)) {
    const g = autoGroupSize(await loadModel(options.model));
    if (g !== 128) options.compress = `${options.compress}:g${g}`;
  }
  const abort = new AbortController();
  const poll = setInterval(() => { if (token.isCancellationRequested) abort.abort(); }, 50);
  try {
    const report = await runStudy(options, {
      signal: abort.signal, claim,
      onProgress: (e) => {
        const i = Math.max(0, STAGES.indexOf(e.stage));
        onProgress?.({ stage: e.stage, fraction: (i + Math.min(1, Math.max(0, e.fraction ?? 0))) / STAGES.length, message: e.message, row: e.row, reused: e.reused });
      },
    });
    return {
      status: report.status, dir: options.out, compress: report.compression.spec, seconds: report.seconds,
      rows: report.rows.map((r) => ({ id: r.id, label: r.label, status: r.status, average: r.aggregates?.values.Average?.value })),
    };
  } finally {
    clearInterval(poll);
  }
}
