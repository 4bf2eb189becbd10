// Paper Figure 1 (mean accuracy against bits / sparsity) over several study folders: one study compresses
// the model one way, so the figure reads the compressed row of each study.json it is given (the same
// model, tasks, --limit, seed and BOS rule in all of them, else the points would not be comparable) and
// plots them as bars in the order given, the uncompressed model as a reference line. Written by
// `idp study-figure --fig 1 STUDY...`.

import * as fs from 'fs';
import * as path from 'path';
import { formatError, inputError, notFound } from '../errors';
import { renderSvg } from './charts';
import { meanAccuracy } from './accuracy';
import { sweepSpec, Sweep, SweepPoint } from './chart-specs';

export type { Sweep, SweepPoint };
import { parseCompress } from './options';
import { writeFileAtomic, writeJsonAtomic } from './store';
import { STUDY_SCHEMA, StudyReport } from '../../protocol/study-schema';

function readStudy(dir: string): StudyReport {
  const file = path.join(dir, 'study.json');
  if (!fs.existsSync(file)) throw notFound(file);
  let r: StudyReport;
  try {
    r = JSON.parse(fs.readFileSync(file, 'utf8')) as StudyReport;
  } catch (e) {
    throw formatError(file, `not JSON: ${(e as Error).message}`);
  }
  if (r?.schema !== STUDY_SCHEMA) throw formatError(file, `schema is ${JSON.stringify(r?.schema)}, expected ${STUDY_SCHEMA}`);
  return r;
}

/** What must agree between the studies of one figure, as text (the first difference is the error). */
function protocol(r: StudyReport): Record<string, string> {
  return {
    model: r.model.path, tasks: r.settings.tasks.join(','), limit: `${r.settings.limit ?? 'all'}`, seed: `${r.settings.seed}`,
    bos: `${r.settings.addBos ?? 'BOS first (before the BOS rule was recorded)'}`,
  };
}

export function compressionSweep(dirs: string[]): Sweep {
  if (dirs.length < 2) throw inputError('Figure 1 needs two or more study folders (one compression setting each)');
  return sweepOf(dirs.map((dir) => ({ dir, report: readStudy(dir) })));
}

/** The protocol key of a study: studies with equal keys can share Figure 1 (the extension groups by it). */
export function sweepProtocol(r: StudyReport): string {
  return JSON.stringify(protocol(r));
}

/** Figure 1's points from studies already read (in the order given); the same rules as compressionSweep. */
export function sweepOf(studies: Array<{ dir: string; report: StudyReport }>): Sweep {
  const points: SweepPoint[] = [];
  let base: Sweep['base'];
  let first: { dir: string; p: Record<string, string> } | undefined;
  for (const { dir, report: r } of studies) {
    const p = protocol(r);
    if (!first) first = { dir, p };
    for (const k of Object.keys(p)) {
      if (p[k] !== first.p[k]) throw inputError(`${k} is ${p[k]}, but ${first.p[k]} in ${path.join(first.dir, 'study.json')}: not comparable in one figure`, path.join(dir, 'study.json'));
    }
    const row = r.rows.find((x) => x.kind === 'compressed' && x.status === 'done');
    const accuracy = row && meanAccuracy(row);
    if (accuracy === undefined) throw formatError(path.join(dir, 'study.json'), 'has no finished compressed row with an accuracy task');
    const spec = r.compression.from ?? r.compression.spec;
    if (spec === 'given') throw inputError('its compressed model was given (--compressed) with no compression record to place it in a sweep', path.join(dir, 'study.json'));
    const c = parseCompress(spec);
    points.push({ study: dir, spec: c.spec, setting: c.description, method: c.method, ...(c.bits ? { bits: c.bits } : {}), ...(c.sparsity ? { sparsity: c.sparsity } : {}), accuracy });
    const b = r.rows.find((x) => x.kind === 'base' && x.status === 'done');
    const ba = b && meanAccuracy(b);
    if (!base && b && ba !== undefined) base = { label: b.label, accuracy: ba };
  }
  const specs = points.map((x) => x.spec);
  const twice = specs.find((s, i) => specs.indexOf(s) !== i);
  if (twice) throw inputError(`two study folders compress with ${twice}: give one per setting`);
  return { points, ...(base ? { base } : {}) };
}

/** OUT/fig1-compression.{json,vl.json,svg}: the points, the spec and its rendering. */
export async function writeSweepFigure(dirs: string[], out: string): Promise<{ points: string; spec: string; svg: string; sweep: Sweep }> {
  const sweep = compressionSweep(dirs);
  const spec = sweepSpec(sweep);
  const files = { points: path.join(out, 'fig1-compression.json'), spec: path.join(out, 'fig1-compression.vl.json'), svg: path.join(out, 'fig1-compression.svg') };
  const svg = await renderSvg(spec);   // before writing anything: a rendering failure leaves no half figure
  writeJsonAtomic(files.points, sweep);
  writeJsonAtomic(files.spec, spec);
  writeFileAtomic(files.svg, svg);
  return { ...files, sweep };
}
