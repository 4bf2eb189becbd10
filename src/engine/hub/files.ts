// Which files of a repository a model needs, and whether a cached snapshot already has them.
//
// A transformers repository (config.json + safetensors): config.json; the weights — model.safetensors,
// else model.safetensors.index.json and the shards its weight_map names, else every top-level
// *.safetensors; never pickled weights (*.bin, *.pt: loading them runs code); the tokenizer —
// tokenizer.json, else GPT-2 style vocab.json + merges.txt, and tokenizer.model (SentencePiece) only
// when there is no tokenizer.json; and the small side files present: tokenizer_config.json,
// special_tokens_map.json, generation_config.json, chat_template.jinja, quantize_config.json (GPTQ).
// A GGUF repository: the one file gguf-choice.ts picks. Cached, it is used without the network when
// the reference names its tag, or names none and the default (Q4_K_M) is cached.
//
// A snapshot is complete, and used without touching the network, when it has config.json, all the
// weights, and tokenizer.json and tokenizer_config.json either present or recorded absent (.no_exist)
// — what transformers leaves after loading a model and its tokenizer, and what IDP Lab leaves after a
// download (it records the absent ones from the repository listing).

import * as fs from 'fs';
import { formatError, notFound, unsupported } from '../errors';
import { within } from '../formats/limits';
import { RepoCache, validRepoFile } from './cache-layout';
import { chooseGguf, DEFAULT_QUANT, hasGguf, hasQuant } from './gguf-choice';

export const INDEX = 'model.safetensors.index.json';
export const SINGLE = 'model.safetensors';

/** Side files fetched when the repository has them. */
const SIDE = ['generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'chat_template.jinja', 'quantize_config.json'];
/** Absent ones recorded in .no_exist, so a later resolution knows the snapshot is complete. */
const RECORD_ABSENT = ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'special_tokens_map.json', 'chat_template.jinja', SINGLE, INDEX];
/** Must be present or recorded absent for a snapshot to count as complete. */
const COMPLETE_SIDE = ['tokenizer.json', 'tokenizer_config.json'];

/** A safetensors index is JSON of ~100 bytes per tensor: DeepSeek-V3's is ~9 MB. */
export const INDEX_LIMIT = 64 * 1024 * 1024;

export type Plan =
  | { kind: 'hf'; files: string[]; index?: string; absent: string[] }
  | { kind: 'gguf'; file: string };

const topLevel = (f: string) => !f.includes('/');
const PICKLE = /\.(bin|pt|pth|ckpt|pkl)$/i;

/** What to fetch of a repository holding `files`, for reference `what` (quant: a GGUF tag). */
export function planFiles(files: readonly string[], quant: string | undefined, what: string): Plan {
  const have = new Set(files.filter(validRepoFile));
  if (quant !== undefined) return { kind: 'gguf', file: chooseGguf([...have], quant, what) };
  const safetensors = [...have].filter((f) => topLevel(f) && f.endsWith('.safetensors'));
  if (have.has('config.json') && safetensors.length) {
    const out = ['config.json', ...SIDE.filter((f) => have.has(f))];
    if (!have.has('tokenizer.json')) out.push(...['vocab.json', 'merges.txt', 'tokenizer.model'].filter((f) => have.has(f)));
    const absent = RECORD_ABSENT.filter((f) => !have.has(f));
    if (have.has(SINGLE)) return { kind: 'hf', files: [...out, SINGLE], absent };
    if (have.has(INDEX)) return { kind: 'hf', files: out, index: INDEX, absent };
    return { kind: 'hf', files: [...out, ...safetensors.sort()], absent };
  }
  if (hasGguf([...have])) return { kind: 'gguf', file: chooseGguf([...have], undefined, what) };
  if (have.has('config.json') && [...have].some((f) => topLevel(f) && PICKLE.test(f))) {
    throw unsupported('this repository has only pickled PyTorch weights (*.bin); IDP Lab reads safetensors only, since loading a pickle runs code. ' +
      'Try a revision with model.safetensors (the Hub\'s conversion bot opens one as a pull request: ORG/NAME@refs/pr/N)', what);
  }
  if (!have.has('config.json')) throw unsupported('not a model IDP Lab can load: the repository has neither config.json with safetensors weights nor a .gguf file', what);
  throw unsupported('the repository has config.json but no safetensors weights', what);
}

/** The shard files a safetensors index names (bounded read; names checked to stay in the snapshot). */
export function shardsOf(indexFile: string): string[] {
  let size: number;
  try {
    size = fs.statSync(indexFile).size;
  } catch {
    throw notFound(indexFile);
  }
  within(indexFile, 'safetensors index size', size, INDEX_LIMIT, { inBytes: true });
  let idx: unknown;
  try {
    idx = JSON.parse(fs.readFileSync(indexFile, 'utf8'));
  } catch (e) {
    throw formatError(indexFile, `not valid JSON (${(e as Error).message})`);
  }
  const map = idx && typeof idx === 'object' ? (idx as { weight_map?: unknown }).weight_map : undefined;
  if (!map || typeof map !== 'object' || Array.isArray(map)) throw formatError(indexFile, 'no "weight_map" object');
  const shards = new Set<string>();
  for (const [name, f] of Object.entries(map as Record<string, unknown>)) {
    if (typeof f !== 'string' || !validRepoFile(f)) throw formatError(indexFile, `weight_map entry '${name}' is not a file in the repository: ${JSON.stringify(f)}`);
    shards.add(f);
  }
  if (shards.size === 0) throw formatError(indexFile, 'weight_map is empty');
  return [...shards].sort();
}

/** Is `file` present, or known absent, at `commit`? */
const settled = (c: RepoCache, commit: string, f: string) => c.has(commit, f) || c.knownMissing(commit, f);

/** Are the weights of the snapshot of `commit` all there (config.json too)? */
export function weightsCached(c: RepoCache, commit: string): boolean {
  if (!c.has(commit, 'config.json')) return false;
  if (c.has(commit, SINGLE)) return true;
  if (c.has(commit, INDEX)) {
    try {
      return shardsOf(c.snapshotFile(commit, INDEX)).every((s) => c.has(commit, s));
    } catch {
      return false;
    }
  }
  // shards without an index: complete only if both usual names are known absent
  return c.knownMissing(commit, SINGLE) && c.knownMissing(commit, INDEX) &&
    c.snapshotFiles(commit).some((f) => topLevel(f) && f.endsWith('.safetensors'));
}

/**
 * The local path the snapshot of `commit` gives for a reference, when it is complete (see above):
 * the snapshot folder for a transformers model, the chosen file for a GGUF one; else undefined.
 * `lenient` (offline): a transformers snapshot with config.json and its weights is enough.
 */
export function cachedModel(c: RepoCache, commit: string, quant: string | undefined, what: string, lenient = false): string | undefined {
  if (!fs.existsSync(c.snapshot(commit))) return undefined;
  if (quant === undefined && weightsCached(c, commit)) {
    if (lenient || COMPLETE_SIDE.every((f) => settled(c, commit, f))) return c.snapshot(commit);
    return undefined;
  }
  if (quant === undefined && c.has(commit, 'config.json')) return undefined;   // a transformers model missing weights
  const files = c.snapshotFiles(commit);
  if (!hasGguf(files)) return undefined;
  let chosen: string;
  try {
    chosen = chooseGguf(files, quant, what);
  } catch {
    return undefined;
  }
  // without a tag, the cache answers only with the default (Q4_K_M): another cached quantization is not
  // what the repository's listing would choose, unless offline (then what there is)
  if (quant === undefined && !lenient && !hasQuant(chosen, DEFAULT_QUANT)) return undefined;
  return c.snapshotFile(commit, chosen);
}
