// Hugging Face Hub models for Select Model… (no `vscode`): the models already in the HF cache that the
// engine can load, a short list of small models that run on a laptop, and download progress in the
// jobs' terms.

import { scanCacheDir } from '@huggingface/hub';
import { hubCacheDir } from '../engine/hub/env';
import { chooseGguf, hasGguf } from '../engine/hub/gguf-choice';
import type { HubProgress } from '../engine/hub/resolve';
import type { ProgressSample } from './progress-format';

export interface HubSuggestion {
  id: string;
  /** Download size, roughly (safetensors weights). */
  size: string;
  note: string;
}

/** Small models that run on a laptop's CPU (sizes: their safetensors weights, roughly). */
export const SUGGESTED: readonly HubSuggestion[] = [
  { id: 'HuggingFaceTB/SmolLM2-135M-Instruct', size: '~270 MB', note: 'Llama architecture, instruction-tuned' },
  { id: 'HuggingFaceTB/SmolLM2-360M-Instruct', size: '~720 MB', note: 'Llama architecture, instruction-tuned' },
  { id: 'Qwen/Qwen2.5-0.5B', size: '~990 MB', note: 'Qwen2 base model' },
  { id: 'Qwen/Qwen2.5-0.5B-Instruct', size: '~990 MB', note: 'Qwen2, instruction-tuned' },
  { id: 'Qwen/Qwen2.5-Coder-0.5B', size: '~990 MB', note: 'Qwen2 code model (fill-in-the-middle)' },
  { id: 'meta-llama/Llama-3.2-1B', size: '~2.5 GB', note: 'gated: accept the license on huggingface.co and set HF_TOKEN' },
  { id: 'TinyLlama/TinyLlama-1.1B-Chat-v1.0', size: '~2.2 GB', note: 'Llama architecture, chat-tuned' },
  { id: 'facebook/opt-125m', size: '~250 MB', note: 'OPT' },
  { id: 'facebook/opt-350m', size: '~660 MB', note: 'OPT (post-LayerNorm, projected embeddings)' },
  { id: 'facebook/opt-1.3b', size: '~2.6 GB', note: 'OPT' },
  { id: 'openai-community/gpt2', size: '~550 MB', note: 'GPT-2 (124M)' },
];

export interface CachedHubModel {
  /** The reference that loads it: ORG/NAME, with @REVISION when it is not main's, and :QUANT for a GGUF. */
  reference: string;
  /** Bytes of its files in the cache. */
  size: number;
  lastModified: Date;
}

const GGUF_TAG = /(?:^|[-_.])((?:I?Q\d(?:_[A-Z0-9]+)*)|F16|BF16|F32)(?=\.gguf$|[-.])/i;

/** The tag that picks `file` among `files` (its quantization, else its whole name). */
function tagFor(files: string[], file: string): string {
  const name = file.slice(file.lastIndexOf('/') + 1);
  const m = GGUF_TAG.exec(name);
  try {
    if (m && chooseGguf(files, m[1], '') === file) return m[1];
  } catch {
    // not unique: the whole name
  }
  return name;
}

/**
 * The loadable models in the HF cache (default: HF_HUB_CACHE / HF_HOME's), newest first: per repository
 * the revision main points at (else the newest), as a transformers model (config.json + safetensors)
 * or one entry per cached GGUF file. Unreadable entries are skipped; a missing cache is an empty list.
 */
export async function cachedHubModels(cacheDir = hubCacheDir()): Promise<CachedHubModel[]> {
  let info;
  try {
    info = await scanCacheDir(cacheDir);
  } catch {
    return [];
  }
  const out: CachedHubModel[] = [];
  for (const repo of info.repos) {
    if (repo.id.type !== 'model' || repo.revisions.length === 0) continue;
    const rev = repo.revisions.find((r) => r.refs.includes('main'))
      ?? [...repo.revisions].sort((a, b) => b.lastModifiedAt.getTime() - a.lastModifiedAt.getTime())[0];
    const at = rev.refs.includes('main') ? '' : `@${rev.refs[0] ?? rev.commitOid}`;
    const files = rev.files.map((f) => f.path.slice(rev.path.length + 1).split(/[\\/]/).join('/'));
    const sizeOf = (names: string[]) => rev.files.filter((_, i) => names.includes(files[i])).reduce((s, f) => s + f.blob.size, 0);
    if (files.includes('config.json') && files.some((f) => !f.includes('/') && f.endsWith('.safetensors'))) {
      out.push({ reference: `${repo.id.name}${at}`, size: rev.size, lastModified: rev.lastModifiedAt });
    } else if (hasGguf(files)) {
      for (const f of files.filter((x) => /\.gguf$/i.test(x) && !/mmproj/i.test(x) && !/-\d{5}-of-\d{5}\.gguf$/i.test(x))) {
        out.push({ reference: `${repo.id.name}${at}:${tagFor(files, f)}`, size: sizeOf([f]), lastModified: rev.lastModifiedAt });
      }
    }
  }
  return out.sort((a, b) => b.lastModified.getTime() - a.lastModified.getTime());
}

export function formatBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)} GB`;
  if (n >= 1e6) return `${Math.round(n / 1e6)} MB`;
  return `${Math.max(1, Math.round(n / 1e3))} KB`;
}

/** A download's progress as a job's (fraction of the batch, and which file). */
export function downloadSample(p: HubProgress): ProgressSample {
  const file = p.fileSize !== undefined ? `${p.file} (${formatBytes(p.fileBytes)} of ${formatBytes(p.fileSize)})` : p.file;
  return { fraction: p.total ? Math.min(1, p.bytes / p.total) : undefined, message: `downloading ${file}` };
}
