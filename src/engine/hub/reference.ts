// Hugging Face Hub model references: `ORG/NAME`, `ORG/NAME@REVISION`, `ORG/NAME:QUANT` (a GGUF
// repository's quantization, as Ollama's `hf.co/ORG/NAME:Q4_K_M` and llama.cpp's `-hf ORG/NAME:Q4_K_M`)
// and `ORG/NAME@REVISION:QUANT`. An `hf.co/`, `huggingface.co/` or `https://huggingface.co/` prefix
// is accepted and dropped.
//
// Only the two-part form is a reference (legacy one-part ids such as `gpt2` are not: they cannot be
// told from a local file name). Whether a string is a reference is decided here from its text alone;
// an existing local path always wins over it (resolve.ts checks the disk first).
//
// Repository ids follow huggingface_hub's rule: letters, digits, `-`, `_`, `.`; no `--` or `..`; at
// most 96 characters; each part starts and ends with a letter, digit or `_`. A revision is a branch, a tag, a
// commit (40 hex digits) or `refs/pr/N`; it becomes a file name under `refs/` in the cache, so `..`
// segments, a leading `/` and control characters are refused. Git refs cannot hold `:`, which is what
// lets `@REVISION:QUANT` split unambiguously.

export interface HubReference {
  /** `ORG/NAME`. */
  repo: string;
  /** Branch, tag or commit as written; undefined: `main`. */
  revision?: string;
  /** GGUF quantization tag as written (matched case-insensitively), e.g. `Q4_K_M`. */
  quant?: string;
}

const PART = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;
const QUANT = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const PREFIX = /^(?:https?:\/\/)?(?:hf\.co|huggingface\.co)\//i;

export const COMMIT = /^[0-9a-f]{40}$/;

/** Is `rev` usable as a revision (and as a path under `refs/`)? */
export function validRevision(rev: string): boolean {
  if (rev.length === 0 || rev.length > 255 || rev.startsWith('/') || rev.endsWith('/')) return false;
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x20\x7f~^:?*[\\]/.test(rev)) return false;
  return rev.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..' && !seg.endsWith('.lock'));
}

/** Is `repo` a valid `ORG/NAME` repository id? */
export function validRepoId(repo: string): boolean {
  const parts = repo.split('/');
  if (parts.length !== 2 || repo.length > 96 || repo.includes('--') || repo.includes('..')) return false;
  return parts.every((p) => PART.test(p));
}

/** The reference `s` stands for, or undefined when it is not one (then it can only be a path). */
export function parseHubReference(s: string): HubReference | undefined {
  let t = s.trim();
  const prefixed = PREFIX.test(t);
  t = t.replace(PREFIX, '');
  const m = /^([^/@:\s]+\/[^/@:\s]+)(?:@([^:\s]+))?(?::([^:@\s]+))?$/.exec(t);
  if (!m) return undefined;
  const [, repo, revision, quant] = m;
  if (!validRepoId(repo)) return undefined;
  if (revision !== undefined && !validRevision(revision)) return undefined;
  if (quant !== undefined && !QUANT.test(quant)) return undefined;
  // A bare `a/b.gguf` or `a/b.bin` is someone's file, not a repository (unless written with hf.co/).
  if (!prefixed && revision === undefined && quant === undefined && /\.(gguf|bin|safetensors|json)$/i.test(repo)) return undefined;
  return { repo, ...(revision !== undefined ? { revision } : {}), ...(quant !== undefined ? { quant } : {}) };
}

/** `ORG/NAME[@REVISION][:QUANT]`. */
export function formatHubReference(r: HubReference): string {
  return `${r.repo}${r.revision !== undefined ? `@${r.revision}` : ''}${r.quant !== undefined ? `:${r.quant}` : ''}`;
}
