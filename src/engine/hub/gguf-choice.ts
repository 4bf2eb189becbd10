// Which .gguf file of a repository `ORG/NAME:QUANT` means, the way Ollama (`hf.co/ORG/NAME:QUANT`) and
// llama.cpp (`-hf ORG/NAME:QUANT`) read the tag: the file whose name carries QUANT as a whole token,
// case-insensitively (`Q4_K_M` matches `qwen2.5-0.5b-instruct-q4_k_m.gguf`, but `Q4_K` does not, and
// neither does `IQ4_XS` for `Q4_XS`). Without a tag, Q4_K_M, the default both tools use; where a
// repository has no Q4_K_M, the first present of a fixed list of common quantizations (documented in
// docs/hub.md), else the first file by name. A tag may also be a whole file name.
//
// Left out: multimodal projectors (`mmproj`), and split files (`-00001-of-00003.gguf`), which the
// GGUF reader does not join (a tag that only matches a split is refused, saying so).

import { notFound, unsupported } from '../errors';

export const DEFAULT_QUANT = 'Q4_K_M';

/** Tried in order when no tag is given and the repository has no Q4_K_M. */
const FALLBACK = ['Q4_K_S', 'Q4_0', 'Q5_K_M', 'Q5_K_S', 'Q6_K', 'Q8_0', 'Q3_K_M', 'Q4_1', 'F16', 'BF16', 'F32'];

const SPLIT = /-\d{5}-of-\d{5}\.gguf$/i;
const base = (f: string) => f.slice(f.lastIndexOf('/') + 1);
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Does `file`'s name carry `quant` as a whole token? */
export function hasQuant(file: string, quant: string): boolean {
  const stem = base(file).replace(/\.gguf$/i, '');
  return new RegExp(`(?:^|[^A-Za-z0-9])${escape(quant)}(?=[^A-Za-z0-9_]|$)`, 'i').test(stem);
}

const ggufs = (files: readonly string[]) => files.filter((f) => /\.gguf$/i.test(f) && !/mmproj/i.test(base(f)));

/** Among matches: top level first, then the shorter path, then by name. */
const best = (xs: string[]) => [...xs].sort((a, b) => a.split('/').length - b.split('/').length || a.length - b.length || (a < b ? -1 : 1))[0];

/** Whether `files` holds GGUF models (other than projectors). */
export const hasGguf = (files: readonly string[]) => ggufs(files).length > 0;

/**
 * The file `quant` picks among `files` (repository paths), for `what` (the reference, in messages).
 * Throws NOT_FOUND listing the quantizations there are when none matches.
 */
export function chooseGguf(files: readonly string[], quant: string | undefined, what: string): string {
  const all = ggufs(files);
  const whole = all.filter((f) => !SPLIT.test(f));
  if (quant !== undefined) {
    const byName = whole.filter((f) => base(f).toLowerCase() === quant.toLowerCase());
    if (byName.length) return best(byName);
    const hits = whole.filter((f) => hasQuant(f, quant));
    if (hits.length) return best(hits);
    if (all.some((f) => hasQuant(f, quant))) {
      throw unsupported(`${quant} is only there as a split GGUF (-0000N-of-0000M files), which IDP Lab does not join; merge it with llama.cpp's gguf-split --merge, or pick another quantization`, what);
    }
    throw notFound(what, `no .gguf file for quantization '${quant}' in this repository (there are: ${available(whole)})`);
  }
  if (whole.length === 0) {
    throw unsupported(all.length ? 'the repository only has split GGUF files, which IDP Lab does not join' : 'no .gguf file in this repository', what);
  }
  for (const q of [DEFAULT_QUANT, ...FALLBACK]) {
    const hits = whole.filter((f) => hasQuant(f, q));
    if (hits.length) return best(hits);
  }
  return [...whole].sort()[0];
}

/** The files of `files` listed by name, for a message (at most 12). */
function available(files: string[]): string {
  if (files.length === 0) return 'no .gguf files';
  const names = files.map(base).sort();
  return names.length > 12 ? `${names.slice(0, 12).join(', ')}, … (${names.length} in all)` : names.join(', ');
}
