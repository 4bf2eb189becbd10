// Training documents from the corpus' training parts, a fraction of them in fill-in-the-middle form
// so the model can complete code between a prefix and a suffix (what inline completion needs).
//
// Each training part is cut at line boundaries into chunks of about FIM_CHUNK_CHARS characters. A
// chunk becomes a FIM document with probability `rate` (a stream keyed by (seed, part id)); the
// other chunks stay plain text, consecutive plain chunks of a part forming one document. A FIM
// document is in PSM order (prefix, suffix, middle — the layout StarCoder-style models use):
//
//   <|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>{middle}
//
// and the next document's <|endoftext|> (BOS) follows the middle, so the model learns to end the
// middle there. The middle starts at a uniformly random character of the chunk and runs to the end of
// that line or of one or two lines after it (newline excluded): the rest of a line, or a few lines —
// what a cursor in an editor asks for.

import { Rng } from '../../src/engine/rng';
import { splitLines, CorpusPart } from './corpus';

export const FIM_PREFIX = '<|fim_prefix|>';
export const FIM_MIDDLE = '<|fim_middle|>';
export const FIM_SUFFIX = '<|fim_suffix|>';
export const EOT = '<|endoftext|>';
export const SPECIAL_TOKENS = [EOT, FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX];
export const FIM_CHUNK_CHARS = 1200;

export interface FimSplit { prefix: string; middle: string; suffix: string }

/** Where a chunk is cut into prefix / middle / suffix (see the header), from a random stream. */
export function fimSplit(chunk: string, rng: Rng): FimSplit {
  const start = rng.int(chunk.length);
  let end = start;
  const extra = rng.int(3);
  for (let k = 0; k <= extra; k++) {
    const nl = chunk.indexOf('\n', end + (k > 0 ? 1 : 0));
    if (nl < 0) {
      if (k === 0) end = chunk.length;   // the last line has no newline: to the end
      break;
    }
    end = nl;
  }
  return { prefix: chunk.slice(0, start), middle: chunk.slice(start, end), suffix: chunk.slice(end) };
}

export const fimDocument = (s: FimSplit) => `${FIM_PREFIX}${s.prefix}${FIM_SUFFIX}${s.suffix}${FIM_MIDDLE}${s.middle}`;

export interface TrainingDocs {
  docs: string[];
  fimDocs: number;
  plainDocs: number;
  chunks: number;
}

/** Documents of the training parts (held-out parts are skipped), `rate` of the chunks as FIM. */
export function trainingDocuments(parts: CorpusPart[], rate: number, seed: number): TrainingDocs {
  const docs: string[] = [];
  let fimDocs = 0;
  let plainDocs = 0;
  let chunks = 0;
  for (const p of parts) {
    if (p.heldOut) continue;
    const rng = Rng.for(seed, 'fim', p.id);
    let plain = '';
    const flush = () => { if (plain) { docs.push(plain); plainDocs++; plain = ''; } };
    for (const c of splitLines(p.text, FIM_CHUNK_CHARS)) {
      chunks++;
      if (rng.next() < rate) {
        flush();
        docs.push(fimDocument(fimSplit(c, rng)));
        fimDocs++;
      } else {
        plain += c;
      }
    }
    flush();
  }
  return { docs, fimDocs, plainDocs, chunks };
}
