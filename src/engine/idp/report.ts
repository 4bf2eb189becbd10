// The inspect report (src/protocol/inspect-report.ts) of one IDP run, and its text form (`idp inspect`).

import type { Tokenizer } from '../tokenizers/tokenizer';
import type { AttentionMap, IdpLM, Selection } from './runner';
import type { InspectReport } from '../../protocol/inspect-report';

const r6 = (x: number) => Math.round(x * 1e6) / 1e6;

export function inspectReport(idp: IdpLM, ids: number[], r: Selection & { maps: AttentionMap[]; slots: number }, tok?: Tokenizer): InspectReport {
  const bank = idp.bank;
  const T = ids.length;
  const P = r.slots;
  const S = P + T;
  const offs = bank.offsets();
  const layers = r.maps.map(({ layer, map, heads }) => {
    const rows = Array.from({ length: T }, (_, t) => Array.from(map.subarray(t * S, (t + 1) * S), r6));
    const H = heads ? heads.length / (T * S) : 0;
    const perHead = heads && Array.from({ length: H }, (_, h) =>
      Array.from({ length: T }, (_, t) => Array.from(heads.subarray((h * T + t) * S, (h * T + t + 1) * S), r6)));
    const segments = rows.map((row) => [
      ...bank.info.map((p, i) => r6(row.slice(offs[i], offs[i] + p.n).reduce((a, b) => a + b, 0))),
      r6(row.slice(P).reduce((a, b) => a + b, 0)),
    ]);
    return { layer, segments, map: rows, ...(perHead ? { heads: perHead } : {}) };
  });
  return {
    selected: r.selected[0],
    scores: Array.from(r.scores[0], r6),
    mass: Array.from(r.mass[0], r6),
    rule: idp.rule,
    selectionLayer: idp.selectionLayer,
    score: bank.score,
    positions: bank.positions,
    prompts: bank.info.map((p, i) => ({ index: i, n: p.n, start: p.start, slots: [offs[i], offs[i] + p.n] as [number, number] })),
    tokens: ids.map((id, t) => ({ id, ...(tok ? { text: tok.decode([id]) } : {}), position: bank.positions + t })),
    layers,
  };
}

/** The report as text: the selection, the scores, and per layer the mean attention on each segment. */
export function inspectText(rep: InspectReport): string {
  const lines: string[] = [];
  const names = rep.prompts.map((p) => `P${p.index} (${p.n})`);
  lines.push(`selected prompt ${rep.selected} (${rep.prompts[rep.selected].n} tokens) at layer ${rep.selectionLayer}, ` +
    (rep.rule === 'calibrated' ? `by the bank's calibrated rule over every head's attention ${rep.score}` : `score = attention ${rep.score} (the paper's rule)`));
  lines.push(`scores: ${rep.scores.map((s, i) => `${names[i]} ${s.toFixed(4)}${i === rep.selected ? ' *' : ''}`).join('  ')}`);
  if (rep.rule === 'calibrated') lines.push(`attention ${rep.score} (heads averaged): ${rep.mass.map((s, i) => `${names[i]} ${s.toFixed(4)}`).join('  ')}`);
  lines.push(`input: ${rep.tokens.length} tokens at positions ${rep.positions}…${rep.positions + rep.tokens.length - 1}`);
  lines.push(`mean attention of the input tokens per layer (heads averaged): ${[...names, 'input'].join(' | ')}`);
  for (const l of rep.layers) {
    const T = l.segments.length;
    const mean = l.segments[0].map((_, k) => l.segments.reduce((a, row) => a + row[k], 0) / T);
    lines.push(`  layer ${String(l.layer).padStart(2)}${l.layer === rep.selectionLayer ? '*' : ' '} ${mean.map((v) => v.toFixed(3)).join(' | ')}`);
  }
  return lines.join('\n') + '\n';
}
