// What `idp study` / runStudy takes: one plain JSON-serialisable object (the extension sends it over
// JSON-RPC), its defaults, and the parsing of its two little languages:
//   compress  "gptq:3"  "gptq:4:g64"  "rtn:4"  "gptq:3:g-1:dense"   method : bits [: g<group size>] [: dense]
//             (dense: a float model with the fake-quantized weights, for shapes the packed layout cannot hold)
//             "sparsegpt:0.5"  "sparsegpt:0.5:4"  "sparsegpt:2:4"  "magnitude:0.7"   method : sparsity or N:M [: bits] (the paper's
//             Table 2: SparseGPT 50 %; with bits, joint quantization in the GPTQ layout; pruned only: dense)
//   methods   none, prompt:<n>, concat, idp, idp:<a>+<b>, prefix:<n>, lora:<r>  (concat and idp use every
//             prompt:<n>; idp:<a>+<b> a bank of those lengths only, for Fig. 6's several banks);
//             prompt:<n>@<data> trains that prompt on its own text (a file or a quoted glob) — a bank of
//             prompts of different kinds, whose selection is then calibrated on their held-out documents;
//             union:<n> is one prompt (not in the bank) trained on all the prompts' own texts together, the
//             same budget — what IDP's routing has to beat

import * as crypto from 'crypto';
import { inputError } from '../errors';
import type { MethodName } from '../idp/params';

export interface StudyOptions {
  /** The uncompressed model (HF folder, .gguf, llama2.c .bin). */
  model: string;
  tokenizer?: string;
  /** Compression, e.g. "gptq:3" (GPTQ 3-bit, group 128) or "rtn:4:g64"; ignored with `compressed`. */
  compress: string;
  /** A model compressed elsewhere (a GPTQ folder or any model folder): the study skips compressing and its
   *  compressed row runs on this folder (given.ts). */
  compressed?: string;
  /** A named set of the paper's settings (preset.ts); the options given explicitly win. */
  preset?: 'paper';
  /** Recovery methods, e.g. ["none", "prompt:8", "prompt:32", "concat", "idp", "prefix:8", "lora:2", "lora:4"]. */
  methods: string[];
  /** Training token budget per trained method (every method: same data, budget and optimizer). */
  tokens: number;
  /** Benchmark tasks (idp bench names: paper tasks and text_* held-out tasks). */
  tasks: string[];
  /** Held-out text for the text_* tasks and the held-out perplexity (default: the training data's held-out blocks). */
  heldout?: string[];
  /** Training (and GPTQ calibration) text; ["model"] (default) samples it from the uncompressed model. */
  data?: string[];
  /** Report folder. */
  out: string;
  dataDir?: string;
  limit?: number;
  seed?: number;
  /** Training rows: tokens per row, rows per step, peak learning rate (AdamW, cosine, paper's other defaults). */
  seqLen?: number;
  batch?: number;
  lr?: number;
  /** AdamW weight decay (default 1e-5, the paper's). */
  weightDecay?: number;
  /** LoRA targets (default q,k,v,o,gate,up,down). */
  targets?: string[];
  /** IDP selection layer and score (defaults: 0, mass). */
  selectionLayer?: number;
  score?: 'mass' | 'mean';
  /** Calibration windows for GPTQ (default 32 × min(256, context)). */
  calibSamples?: number;
  calibSeqLen?: number;
  /** Latency measurement: batch × input tokens, decode tokens, repeats (default 4 × min(128, context/4), 16, 3). */
  latency?: { batch?: number; seqLen?: number; decode?: number; repeats?: number } | false;
  /** Similarity to the uncompressed model (paper Fig. 5): held-out texts and their length (default 8 × 64). */
  similarity?: { samples?: number; seqLen?: number } | false;
  /** Choices per held-out multiple-choice item (default 4). */
  choices?: number;
  /** Benchmark contexts with BOS first (eval/requests.ts); default lm-eval's rule (none except for Gemma). */
  addBos?: boolean;
  threads?: number;
}

export interface MethodSpec {
  /** Row id and artifact folder name: "prompt-8", "idp-8+32", "lora-r4". */
  id: string;
  kind: MethodName;
  /** prompt / prefix: tokens; lora: rank. */
  size?: number;
  /** The text as given ("prompt:8"). */
  spec: string;
  /** prompt:<n>@<data>: the prompt's own training text (file or glob). */
  data?: string;
  /** idp:<a>+<b>…: a bank of only these prompt:<n> lengths (Fig. 6: several banks in one study); absent: every prompt. */
  subset?: number[];
}

/** A short name for a prompt's own data in row ids: the extension a glob ends in ("md"), else the file's base name. */
export function dataLabel(data: string): string {
  const ext = /\*\.([A-Za-z0-9]+)$/.exec(data)?.[1];
  const base = ext ?? data.split(/[\\/]/).pop()!.replace(/\.[^.]*$/, '');
  return base.replace(/[^A-Za-z0-9_-]/g, '') || 'data';
}

export interface CompressSpec {
  method: 'gptq' | 'rtn' | 'sparsegpt' | 'magnitude';
  /** Quantization bits; undefined: pruned only (sparsegpt, magnitude). */
  bits?: 2 | 3 | 4 | 8;
  /** Sparsity (sparsegpt, magnitude): unstructured, or n / m of an N:M pattern. */
  sparsity?: number;
  /** N:M sparsity (N zeros in every M consecutive weights), e.g. 2:4. */
  pattern?: { n: number; m: number };
  groupSize: number;
  /** Write a float model with the compressed weights instead of the packed GPTQ layout. */
  dense: boolean;
  spec: string;
  description: string;
}

export const DEFAULT_TARGETS = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'];

export function parseCompress(spec: string): CompressSpec {
  const p = /^(sparsegpt|magnitude):(0?\.\d+|\d+:\d+)(?::(2|3|4|8))?(?::g(-1|\d+))?$/.exec(spec.trim());
  if (p) {
    // a fraction (unstructured) or N:M (N zeros in every M consecutive weights of a row, e.g. 2:4)
    const nm = /^(\d+):(\d+)$/.exec(p[2]);
    const pattern = nm ? { n: Number(nm[1]), m: Number(nm[2]) } : undefined;
    if (pattern && !(pattern.n >= 1 && pattern.n < pattern.m)) throw inputError(`--compress '${spec}': an N:M pattern needs 1 ≤ N < M (e.g. 2:4)`);
    const sparsity = pattern ? pattern.n / pattern.m : Number(p[2]);
    if (!(sparsity > 0 && sparsity < 1)) throw inputError(`--compress '${spec}': sparsity must be in (0, 1)`);
    const method = p[1] as 'sparsegpt' | 'magnitude';
    const bits = p[3] === undefined ? undefined : Number(p[3]) as CompressSpec['bits'];
    if (bits !== undefined && method === 'magnitude') throw inputError(`--compress '${spec}': magnitude pruning does not quantize (use sparsegpt:${p[2]}:${p[3]})`);
    const groupSize = p[4] === undefined ? 128 : Number(p[4]);
    return {
      method, sparsity, ...(pattern ? { pattern } : {}), bits, groupSize, dense: bits === undefined, spec: spec.trim(),
      description: `${method === 'sparsegpt' ? 'SparseGPT' : 'magnitude pruning'} ${pattern ? `${pattern.n}:${pattern.m}` : `${Math.round(sparsity * 100)} % unstructured`}` +
        (bits ? ` + ${bits}-bit, ${groupSize === -1 ? 'one group per row' : `group ${groupSize}`}` : ' (dense float weights)'),
    };
  }
  const m = /^(gptq|rtn):(2|3|4|8)(?::g(-1|\d+))?(:dense)?$/.exec(spec.trim());
  if (!m) throw inputError(`--compress '${spec}': expected method:bits[:gGROUP][:dense] (gptq:3, rtn:4:g64, gptq:3:g-1:dense) or method:sparsity[:bits] (sparsegpt:0.5, sparsegpt:0.5:4, sparsegpt:2:4, magnitude:0.7)`);
  const groupSize = m[3] === undefined ? 128 : Number(m[3]);
  if (groupSize === 0) throw inputError(`--compress '${spec}': group size must be -1 (one group per row) or positive`);
  const bits = Number(m[2]) as CompressSpec['bits'];
  const method = m[1] as CompressSpec['method'];
  const dense = m[4] !== undefined;
  return {
    method, bits, groupSize, dense, spec: spec.trim(),
    description: `${method.toUpperCase()} ${bits}-bit, ${groupSize === -1 ? 'one group per row' : `group ${groupSize}`}${dense ? ', dense (fake-quantized float weights)' : ''}`,
  };
}

/**
 * The spec with a group size where it quantizes and names none ("gptq:3" → "gptq:3:g64"); `groupSize`
 * is the model's automatic one (models/quant/modules.ts autoGroupSize). A spec with a group, or that does
 * not quantize, is returned as it is; so is one whose group would be the default 128 anyway.
 */
export function withGroupSize(spec: string, groupSize: number): string {
  const s = spec.trim();
  if (groupSize === 128) return s;
  const q = /^(gptq|rtn):(2|3|4|8)(:dense)?$/.exec(s);
  if (q) return `${q[1]}:${q[2]}:g${groupSize}${q[3] ?? ''}`;
  if (/^sparsegpt:(0?\.\d+|\d+:\d+):(2|3|4|8)$/.test(s)) return `${s}:g${groupSize}`;
  return s;
}

/** The compressed row's short name in labels: "GPTQ-3bit", "SparseGPT-50%", "SparseGPT-2:4-4bit". */
export function compressLabel(c: CompressSpec): string {
  return c.sparsity !== undefined
    ? `${c.method === 'sparsegpt' ? 'SparseGPT' : 'Magnitude'}-${c.pattern ? `${c.pattern.n}:${c.pattern.m}` : `${Math.round(c.sparsity * 100)}%`}${c.bits ? `-${c.bits}bit` : ''}`
    : `${c.method.toUpperCase()}-${c.bits}bit`;
}

/** Methods in table order; idp/concat need at least one prompt:<n>. */
export function parseMethods(list: string[]): MethodSpec[] {
  const out: MethodSpec[] = [];
  const prompts: number[] = [];
  for (const raw of list.map((s) => s.trim()).filter(Boolean)) {
    const sub = /^idp:(\d+(?:\+\d+)*)$/.exec(raw);
    if (sub) {
      const subset = sub[1].split('+').map(Number);
      if (subset.some((n) => n < 1) || new Set(subset).size !== subset.length) throw inputError(`--methods: '${raw}' needs distinct prompt lengths ≥ 1 (idp:8+32)`);
      out.push({ id: `idp-${subset.join('+')}`, kind: 'idp', spec: raw, subset });
      continue;
    }
    const at = raw.indexOf('@');
    const data = at >= 0 ? raw.slice(at + 1).trim() : undefined;
    const [name, arg, ...rest] = (at >= 0 ? raw.slice(0, at) : raw).split(':');
    if (data !== undefined && (name !== 'prompt' || !data)) throw inputError(`--methods: '${raw}': only prompt:N takes its own data (prompt:N@FILE)`);
    const size = arg === undefined ? undefined : Number(arg);
    if (rest.length || (arg !== undefined && !(Number.isInteger(size) && size! >= 1))) throw inputError(`--methods: bad entry '${raw}' (none, prompt:N, concat, idp, prefix:N, lora:R)`);
    switch (name) {
      case 'none': case 'concat': case 'idp':
        if (arg !== undefined) throw inputError(`--methods: '${name}' takes no size (it uses every prompt:N), got '${raw}'`);
        out.push({ id: name, kind: name, spec: raw });
        break;
      case 'prompt': case 'prefix': case 'lora': case 'union':
        if (size === undefined) throw inputError(`--methods: '${name}' needs a size, e.g. ${name}:${name === 'lora' ? 4 : 8}`);
        if (name === 'prompt') prompts.push(size);
        out.push({ id: name === 'lora' ? `lora-r${size}` : `${name}-${size}${data ? `-${dataLabel(data)}` : ''}`, kind: name, size, spec: raw, ...(data ? { data } : {}) });
        break;
      default:
        throw inputError(`--methods: unknown method '${name}' in '${raw}' (none, prompt:N[@DATA], concat, idp, prefix:N, lora:R, union:N)`);
    }
  }
  if (!out.length) throw inputError('--methods: give at least one method');
  const ids = new Set<string>();
  for (const m of out) {
    if ((m.kind === 'idp' && !m.subset) || m.kind === 'concat') m.id = `${m.kind}-${prompts.join('+')}`;
    const base = m.id;
    if (m.data) for (let k = 2; ids.has(m.id); k++) m.id = `${base}-${k}`;   // two data sets named alike
    if (ids.has(m.id)) throw inputError(`--methods: '${m.spec}' is listed twice${m.kind === 'idp' ? ' (idp is the bank of every prompt:N)' : ''}`);
    ids.add(m.id);
    if ((m.kind === 'idp' || m.kind === 'concat') && !prompts.length) throw inputError(`--methods: '${m.kind}' needs the bank's prompts: add prompt:N entries (e.g. prompt:8,prompt:32)`);
    for (const n of m.subset ?? []) {
      const k = prompts.filter((x) => x === n).length;
      if (k !== 1) throw inputError(`--methods: '${m.spec}': ${k ? `${k} prompts have ${n} tokens, so the length does not name one` : `no prompt:${n} in the list`}`);
    }
    if (m.kind === 'union' && !out.some((x) => x.kind === 'prompt' && x.data)) throw inputError(`--methods: '${m.spec}' is trained on the bank prompts' own texts: give prompt:N@DATA entries`);
  }
  return out;
}

/** Prompt lengths of the bank (every prompt:<n>, in order). */
export const bankLengths = (methods: MethodSpec[]): number[] => methods.filter((m) => m.kind === 'prompt').map((m) => m.size!);

/** Each bank prompt's own data (prompt:<n>@<data>), undefined where it trains on the study's data. */
export const bankPromptData = (methods: MethodSpec[]): Array<string | undefined> => methods.filter((m) => m.kind === 'prompt').map((m) => m.data);

/** Short stable hash of JSON-serialisable settings (resume keys). */
export function settingsKey(x: unknown): string {
  return crypto.createHash('sha256').update(JSON.stringify(x)).digest('hex').slice(0, 12);
}

export function checkOptions(o: StudyOptions): void {
  if (!o || typeof o !== 'object') throw inputError('study options must be an object');
  if (!o.model) throw inputError('study: give the model (--model PATH)');
  if (!o.out) throw inputError('study: give the report folder (--out DIR)');
  if (!(Number.isInteger(o.tokens) && o.tokens >= 1)) throw inputError(o.tokens === undefined ? 'study: give the training token budget (--tokens, or --preset paper)' : `study: --tokens must be a positive integer, got ${o.tokens}`);
  if (!Array.isArray(o.tasks) || !o.tasks.length) throw inputError('study: give the benchmark tasks (--tasks)');
  if (!Array.isArray(o.methods)) throw inputError('study: --methods must be a list');
  if (o.tasks.some((t) => t.startsWith('text_')) && !o.heldout?.length) throw inputError('study: the text_* tasks need held-out text (--heldout FILE)');
}
