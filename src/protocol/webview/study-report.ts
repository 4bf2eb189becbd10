// Study reports on disk (study.json, schema idp-study/1 in src/protocol/study-schema.ts): the validator the
// Benchmarks view reads them through (unknown fields are ignored, as the schema asks of readers), and
// the search of the lab folder for study folders. The validator imports nothing with side effects
// (the webview bundles it too); the search uses `fs` and lives in study-runs.ts.

import type { StudyReport, StudyRow } from '../study-schema';
import { arrayOf, bool, Check, int, literal, nullable, num, object, optional, recordOf, str } from './validate';

export const STUDY_SCHEMA_ID = 'idp-study/1';

const metricValue = object({ value: num, stderr: nullable(num) }, 'loose');
const paramCount = object({ paper: num, trained: num, stored: num, label: optional(str) }, 'loose');

const row = object({
  id: str,
  label: str,
  kind: str,
  params: paramCount,
  bench: optional(str),
  headline: recordOf(object({ value: num, stderr: nullable(num), metric: str }, 'loose')),
  aggregates: optional(object({ values: recordOf(metricValue), missing: optional(recordOf(arrayOf(str))) }, 'loose')),
  heldout: optional(object({ nll: num, ppl: num, tokens: num }, 'loose')),
  latency: optional(object({ batch: int(1), seqlen: int(1), prefillMs: num, decodeMsPerToken: num }, 'loose')),
  selection: optional(object({ counts: arrayOf(num), prompts: arrayOf(num) }, 'loose')),
  training: optional(object({ tokens: num, seconds: num, finalLoss: optional(num) }, 'loose')),
  status: literal('done', 'failed', 'skipped'),
  error: optional(str),
}, 'loose');

const similarity = object({
  layers: int(0),
  samples: int(0),
  rows: recordOf(object({ attention: arrayOf(num), hidden: arrayOf(num) }, 'loose')),
}, 'loose');

/** study.json as the Benchmarks view needs it; throws MessageError naming the first bad field. */
export const studyReport: Check<StudyReport> = object({
  schema: literal(STUDY_SCHEMA_ID),
  status: literal('complete', 'partial', 'cancelled'),
  created: str,
  seconds: num,
  model: object({ path: str, label: str, arch: str, parameters: num }, 'loose'),
  compression: object({ spec: str, path: str, description: str, from: optional(str) }, 'loose'),
  settings: object({ methods: arrayOf(str), tokens: num, tasks: arrayOf(str), heldout: arrayOf(str), limit: optional(num), seed: num, addBos: optional(bool) }, 'loose'),
  rows: arrayOf(row),
  analyses: object({
    similarity: optional(similarity),
    promptLengths: optional(arrayOf(object({ row: str, tokens: num, ppl: num, accuracy: num, perplexity: optional(literal('word', 'token')), pplTask: optional(str) }, 'loose'))),
  }, 'loose'),
  charts: arrayOf(object({ name: str, title: str, spec: str, svg: str }, 'loose')),
  table: str,
  notes: arrayOf(str),
}, 'loose') as unknown as Check<StudyReport>;

export type { StudyReport, StudyRow };
