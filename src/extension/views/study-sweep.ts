// Figure 1 in the Benchmarks view: the lab folder's studies that share the shown study's protocol (model,
// tasks, --limit, seed, BOS rule) and each compress the model one way, as engine/study/sweep-chart.ts
// defines them — the newest study per compression setting, the shown one for its own. Imports no `vscode`.

import { sweepOf, sweepProtocol, Sweep } from '../../engine/study/sweep-chart';
import { parseCompress } from '../../engine/study/options';
import { meanAccuracy } from '../../engine/study/accuracy';
import type { StudyReport } from '../../protocol/study-schema';
import { readStudy, StudyRun } from './study-runs';

/** Order of the bars: by method, then fewer bits / more sparsity to the right. */
function order(a: { spec: string }, b: { spec: string }): number {
  const x = parseCompress(a.spec), y = parseCompress(b.spec);
  return x.method.localeCompare(y.method) || (y.bits ?? 32) - (x.bits ?? 32) || (x.sparsity ?? 0) - (y.sparsity ?? 0) || x.spec.localeCompare(y.spec);
}

/** Figure 1 for `shown` from `runs` (newest first, as listStudies gives them), or null with fewer than two settings. */
export function labSweep(runs: StudyRun[], shown: StudyReport, onProblem?: (msg: string) => void): Sweep | null {
  const key = sweepProtocol(shown);
  const bySpec = new Map<string, { dir: string; report: StudyReport }>();
  for (const run of runs) {
    if (run.error) continue;
    const r = readStudy(run.dir);
    if (!r.ok || sweepProtocol(r.report) !== key) continue;
    const spec = r.report.compression.from ?? r.report.compression.spec;
    const compressed = r.report.rows.find((x) => x.kind === 'compressed' && x.status === 'done');
    if (spec === 'given' || !compressed || meanAccuracy(compressed) === undefined) continue;
    let norm: string;
    try {
      norm = parseCompress(spec).spec;
    } catch {
      continue;
    }
    const mine = r.report.created === shown.created && r.report.model.path === shown.model.path;
    if (!bySpec.has(norm) || mine) bySpec.set(norm, { dir: run.dir, report: r.report });
  }
  if (bySpec.size < 2) return null;
  const studies = [...bySpec.entries()].map(([spec, s]) => ({ spec, ...s })).sort(order);
  try {
    return sweepOf(studies.map(({ dir, report }) => ({ dir, report })));
  } catch (e) {
    onProblem?.((e as Error).message);
    return null;
  }
}
