// The study's charts (chart-specs.ts) rendered to SVG headlessly with vega + vega-lite (SVG needs no canvas;
// text widths are vega's estimates) and written beside study.json.
// vega and vega-lite are ES modules (vega with top-level await), so they are loaded with a real
// dynamic import (TypeScript's CommonJS output would turn import() into require()).

import * as fs from 'fs';
import * as path from 'path';
import { pathToFileURL } from 'url';
import { writeFileAtomic, writeJsonAtomic } from './store';
import { chartSpecs, Spec } from './chart-specs';
import type { StudyChart, StudyReport } from '../../protocol/study-schema';

export { meanAccuracy } from './accuracy';

const esmImport = new Function('s', 'return import(s)') as (s: string) => Promise<any>;

/** SVG of a Vega-Lite spec (headless: no canvas, no DOM). */
export async function renderSvg(spec: Spec): Promise<string> {
  const bundled = path.join(__dirname, 'svg-render.mjs');   // beside dist/cli.js and dist/server.js
  if (fs.existsSync(bundled)) return (await esmImport(pathToFileURL(bundled).href)).toSvg(spec);
  const [vega, vl] = await Promise.all([esmImport('vega'), esmImport('vega-lite')]);
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * Write charts/<name>.vl.json and charts/<name>.svg for every chart the report has data for. A chart that
 * cannot be rendered (e.g. vega missing from a trimmed install) keeps its spec; `onProblem` says why.
 */
export async function writeCharts(dir: string, r: StudyReport, onProblem?: (msg: string) => void): Promise<StudyChart[]> {
  const out: StudyChart[] = [];
  for (const c of chartSpecs(r)) {
    const spec = path.join('charts', `${c.name}.vl.json`);
    const svg = path.join('charts', `${c.name}.svg`);
    writeJsonAtomic(path.join(dir, spec), c.spec);
    try {
      writeFileAtomic(path.join(dir, svg), await renderSvg(c.spec));
      out.push({ name: c.name, title: c.title, spec, svg });
    } catch (e) {
      onProblem?.(`chart ${c.name}: not rendered (${(e as Error).message}); its Vega-Lite spec is ${spec}`);
    }
  }
  return out;
}
