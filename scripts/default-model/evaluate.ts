// Does the trained model use fill-in-the-middle? On held-out code (never trained on), chunks are cut
// the way training cut FIM documents (fimSplit) and the middle is scored twice with the same model:
//   FIM            <|endoftext|> <|fim_prefix|> prefix <|fim_suffix|> suffix <|fim_middle|> middle <|endoftext|>
//   left-to-right  <|endoftext|> prefix middle
// A model that learned FIM predicts the middle better with the suffix in view (lower NLL per token)
// and ends the middle with <|endoftext|>; both figures go into the model card.

import type { CausalLM } from '../../src/engine/runtime/lm';
import type { Tokenizer } from '../../src/engine/tokenizers/tokenizer';
import { Rng } from '../../src/engine/rng';
import { splitLines, CorpusPart } from './corpus';
import { fimSplit } from './fim';

export interface FimProbe {
  examples: number;
  middleTokens: number;
  /** Mean NLL per middle token (nats) in FIM layout and left to right. */
  nllFim: number;
  nllLeftToRight: number;
  /** Mean log-probability of <|endoftext|> right after the true middle, and its mean rank (0 = top). */
  eotLogProb: number;
  eotRank: number;
}

/** log p(id) at row `off` of logits with V columns (float64 log-sum-exp). */
function logProb(logits: Float32Array, off: number, V: number, id: number): number {
  let m = -Infinity;
  for (let v = 0; v < V; v++) if (logits[off + v] > m) m = logits[off + v];
  let s = 0;
  for (let v = 0; v < V; v++) s += Math.exp(logits[off + v] - m);
  return logits[off + id] - m - Math.log(s);
}

export async function probeFim(lm: CausalLM, tok: Tokenizer, held: CorpusPart[], ids: { eot: number; prefix: number; middle: number; suffix: number },
  o: { examples: number; chunkChars: number; seed: number }): Promise<FimProbe> {
  const V = lm.config.vocabSize;
  const rng = Rng.for(o.seed, 'fim-probe');
  const r: FimProbe = { examples: 0, middleTokens: 0, nllFim: 0, nllLeftToRight: 0, eotLogProb: 0, eotRank: 0 };
  for (const p of held) {
    for (const chunk of splitLines(p.text, o.chunkChars)) {
      if (r.examples >= o.examples) break;
      const s = fimSplit(chunk, rng);
      if (!s.middle.trim()) continue;
      const pre = tok.encode(s.prefix);
      const suf = tok.encode(s.suffix);
      const mid = tok.encode(s.middle);
      const fim = [ids.eot, ids.prefix, ...pre, ids.suffix, ...suf, ids.middle, ...mid, ids.eot];
      const l2r = [ids.eot, ...pre, ...mid];
      if (fim.length > lm.config.maxPositions) continue;
      const [a, b] = await lm.logits([fim, l2r]);
      const f0 = fim.length - mid.length - 2;       // the <|fim_middle|> slot predicts the first middle token
      for (let k = 0; k < mid.length; k++) {
        r.nllFim -= logProb(a, (f0 + k) * V, V, mid[k]);
        r.nllLeftToRight -= logProb(b, (pre.length + k) * V, V, mid[k]);
      }
      r.middleTokens += mid.length;
      const last = (fim.length - 2) * V;
      r.eotLogProb += logProb(a, last, V, ids.eot);
      let rank = 0;
      for (let v = 0; v < V; v++) if (a[last + v] > a[last + ids.eot]) rank++;
      r.eotRank += rank;
      r.examples++;
    }
  }
  if (r.examples) {
    r.nllFim /= r.middleTokens;
    r.nllLeftToRight /= r.middleTokens;
    r.eotLogProb /= r.examples;
    r.eotRank /= r.examples;
  }
  return r;
}
