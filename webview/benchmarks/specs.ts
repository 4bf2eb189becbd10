// The Benchmarks charts: the study's own figures (engine/study/chart-specs.ts — the same specs `idp study`
// renders beside study.json, one definition of accuracy) drawn in the editor's theme, plus Figure 1 over the
// lab folder's studies of the same protocol (the extension finds them and sends the points).

import type { Spec } from '../common/charts';
import { chartSpecs, sweepSpec, Sweep } from '../../src/engine/study/chart-specs';
import type { StudyReport } from '../../src/protocol/study-schema';

interface Shown { id: string; report: StudyReport }
export interface Chart { id: string; caption: string; spec: Spec; label: string }

/** Element id, caption and screen-reader label per chart the engine makes. */
const ABOUT: Record<string, { id: string; caption: string; label: string }> = {
  'accuracy-vs-params': { id: 'fig4', caption: 'Figure 4: mean accuracy vs trainable parameters', label: 'Scatter plot of mean accuracy against trainable parameters per method' },
  'task-change': { id: 'fig7', caption: 'Figure 7: change per task vs the compressed model, in percent', label: 'Bar chart of each method\'s change per task relative to the compressed model' },
  'idp-prompt-size': { id: 'fig6', caption: 'Figure 6: IDP mean accuracy vs average prompt size', label: 'Scatter plot of each IDP bank and single prompt: mean accuracy against prompt size' },
  similarity: { id: 'fig5', caption: 'Figure 5: layer-wise cosine similarity to the uncompressed model', label: 'Line chart of the cosine similarity per layer, attention maps and hidden states' },
  'ppl-vs-accuracy': { id: 'fig2', caption: 'Figure 2: perplexity vs mean accuracy across prompt lengths', label: 'Scatter plot of perplexity against mean accuracy of the prompt-based rows' },
  latency: { id: 'latency', caption: 'Latency per method', label: 'Bar chart of prefill and decode time per method' },
};

/** The page draws in the theme's colours and fonts and captions each figure itself: the spec's own background, config and title go. */
function themed(spec: Record<string, unknown>): Spec {
  const { background: _b, config: _c, title: _t, ...rest } = spec;
  return rest as unknown as Spec;
}

export function benchmarkCharts(run: Shown, compare: Shown | null, sweep: Sweep | null): Chart[] {
  const out: Chart[] = chartSpecs(run.report, compare ?? undefined).map((c) => {
    const about = ABOUT[c.name] ?? { id: c.name, caption: c.title, label: c.title };
    return { ...about, spec: themed(c.spec) };
  });
  if (sweep) {
    out.push({
      id: 'fig1', caption: `Figure 1: the compressed model's mean accuracy per compression setting (${sweep.points.length} studies in the lab folder)`,
      spec: themed(sweepSpec(sweep)), label: `Bar chart of mean accuracy for ${sweep.points.map((p) => p.setting).join(', ')}`,
    });
  }
  return out;
}
