// Vega-Lite → SVG as an ES-module bundle of its own (dist/svg-render.mjs, scripts/bundle.mjs): vega uses
// top-level await, which the CommonJS bundles (cli, server) cannot hold, and the packaged extension ships
// no node_modules to import it from at run time. charts.ts loads this file when it sits beside the bundle
// that runs, else vega and vega-lite from node_modules (tests, out/).

import * as vega from 'vega';
import { compile } from 'vega-lite';

/** SVG of a Vega-Lite spec (headless: no canvas, no DOM). */
export async function toSvg(spec: Record<string, unknown>): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
