// The rows of a study as runnable models, all on the same runtime: the uncompressed model, the compressed
// model, and every recovery method on the compressed one. Each row offers what the stages need:
//   bench()     a ScoringModel for the harness (IDP: unpacked, the context votes)
//   scorer()    logits of whole sequences (held-out NLL; IDP: every token votes)
//   generate()  greedy generation with the method's cache path (latency: a cached prompt / prefix as past
//               slots, IDP's selection prefill then the selected prompt's cache, LoRA as graph constants)
//   probe(ids)  the adapter one text runs with (similarity; IDP: the prompt that text selects — with the
//               selection at layer 0 the IDP forward equals that prompt's forward)

import type { LoadedModel } from '../models/config';
import { CausalLM } from '../runtime/lm';
import { generate, GenerateOptions, GenerateResult } from '../runtime/generate';
import type { SessionOptions } from '../runtime/session';
import { AdaptedLM } from '../train/adapted';
import { PROMPT_INPUT, SoftPrompt } from '../train/methods/prompt';
import type { TrainMethod } from '../train/methods/method';
import type { LogitsScorer } from '../eval/perplexity';
import type { ScoringModel } from '../eval/scoring';
import { IdpScoringModel } from '../idp/scoring-model';
import { IdpLM } from '../idp/runner';
import { computePromptKVs } from '../idp/kv';
import { pastPrefill, promptSlots } from '../idp/past';
import { concatKv, concatPrompt, loraInferenceHooks, prefixKv } from '../idp/baselines';
import { loraParams, noneParams, ParamCount, prefixParams, promptParams } from '../idp/params';
import { inputError } from '../errors';
import type { StudyRowKind } from '../../protocol/study-schema';
import { dataLabel, MethodSpec } from './options';
import type { TrainedMethods, TrainingRecord } from './train';

export interface RowRuntime {
  id: string;
  label: string;
  kind: StudyRowKind;
  params: ParamCount;
  model: LoadedModel;
  training?: TrainingRecord[];
  /** Prompt lengths (IDP: the bank's, in bank order). */
  prompts?: number[];
  bench(): ScoringModel;
  scorer(): LogitsScorer;
  generate(rows: number[][], o: GenerateOptions): Promise<GenerateResult>;
  probe(ids: number[]): Promise<TrainMethod | undefined>;
  /** Frees the row's ORT sessions (and the shared runtime's; any later use builds them again). */
  release(): Promise<void>;
}

export const zero = (label: string): ParamCount => ({ ...noneParams(), label });

export function plainRow(id: string, label: string, kind: StudyRowKind, m: LoadedModel, session: SessionOptions, params: ParamCount,
  lm = new CausalLM(m, session)): RowRuntime {
  return {
    id, label, kind, params, model: m, bench: () => lm, scorer: () => lm,
    generate: (rows, o) => generate(lm, undefined, rows, o), probe: async () => undefined, release: () => lm.release(),
  };
}

function adaptedRow(base: Omit<RowRuntime, 'bench' | 'scorer' | 'generate' | 'probe' | 'release'>, method: TrainMethod, session: SessionOptions,
  gen: (rows: number[][], o: GenerateOptions) => Promise<GenerateResult>, genLm: CausalLM): RowRuntime {
  const a = new AdaptedLM(method, session);
  return {
    ...base, bench: () => a, scorer: () => a, generate: gen, probe: async () => method,
    release: async () => { await Promise.all([a.release(), genLm.release()]); },
  };
}

/** The study's rows in table order: base, compressed, then the methods as given ('none' is the compressed row). */
export async function buildRows(base: LoadedModel, compressed: LoadedModel, short: string, methods: MethodSpec[],
  trained: TrainedMethods, targets: string[], session: SessionOptions): Promise<RowRuntime[]> {
  const m = compressed;
  const c = m.config;
  const lm = new CausalLM(m, session);   // the compressed model's runtime, shared by every row that runs on it
  const rows: RowRuntime[] = [
    plainRow('base', 'Uncompressed', 'base', base, session, zero('uncompressed')),
    plainRow('compressed', short, 'compressed', compressed, session, zero('compressed only'), lm),
  ];
  const bank = trained.bank;
  const lengths = bank?.info.map((p) => p.n) ?? [];
  for (const spec of methods) {
    switch (spec.kind) {
      case 'none':
        break;   // the compressed row
      case 'prompt': {
        const i = methods.filter((x) => x.kind === 'prompt').indexOf(spec);
        const p = bank!.info[i];
        const sp = new SoftPrompt(m, bank!.prompts[i], p.n, 'random', undefined, p.start);
        const kv = (await computePromptKVs(m, [{ embeddings: bank!.prompts[i], n: p.n, start: p.start }], session))[0];
        rows.push(adaptedRow({ id: spec.id, label: `${short} + prompt (${p.n}${spec.data ? ` @ ${dataLabel(spec.data)}` : ''})`, kind: 'prompt', params: promptParams(c, [p.n], 'prompt'), model: m, training: [trained.prompts[i]], prompts: [p.n] },
          sp, session, (r, o) => generate(lm, undefined, r, { ...o, prefill: pastPrefill(lm, promptSlots(kv)) }), lm));
        break;
      }
      case 'concat': {
        const cat = concatPrompt(bank!);
        if (cat.n >= c.maxPositions) throw inputError(`the concatenated prompts (${cat.n} tokens) leave no room in the model's context of ${c.maxPositions}`);
        const sp = new SoftPrompt(m, cat.embeddings, cat.n, 'random', undefined, 0);
        const kv = await concatKv(m, bank!, session);
        rows.push(adaptedRow({ id: spec.id, label: `${short} + concat (${lengths.join(' + ')})`, kind: 'concat', params: promptParams(c, lengths, 'concat'), model: m, prompts: lengths },
          sp, session, (r, o) => generate(lm, undefined, r, { ...o, prefill: pastPrefill(lm, promptSlots(kv)) }), lm));
        break;
      }
      case 'idp': {
        // idp:<a>+<b>: the bank of those prompts only, at the positions they were trained at (Fig. 6)
        const which = spec.subset?.map((n) => lengths.indexOf(n));
        const b = which ? bank!.subset(which) : bank!;
        const ns = b.info.map((p) => p.n);
        const idp = new IdpLM(m, b, session);
        const scoring = new IdpScoringModel(idp, m.tokenizer);
        const singles = b.info.map((p, i) => new SoftPrompt(m, b.prompts[i], p.n, 'random', undefined, p.start));
        rows.push({
          id: spec.id, label: `${short} + IDP (${ns.join(', ')})`, kind: 'idp', params: promptParams(c, ns, 'idp'), model: m,
          training: which ? which.map((i) => trained.prompts[i]) : trained.prompts, prompts: ns,
          bench: () => scoring,
          scorer: () => ({ config: idp.config, logits: (seqs) => scoring.logits(seqs) }),
          generate: (r, o) => idp.generate(undefined, r, o),
          probe: async (ids) => singles[(await idp.score([ids])).selected[0]],
          release: () => idp.release(),
        });
        break;
      }
      case 'union': {
        const u = trained.union.get(spec.size!)!;
        const n = spec.size!;
        const kv = (await computePromptKVs(m, [{ embeddings: u.method.params.get(PROMPT_INPUT)!.data, n, start: 0 }], session))[0];
        rows.push(adaptedRow({ id: spec.id, label: `${short} + one prompt on all the texts (${n})`, kind: 'union', params: promptParams(c, [n], 'prompt'), model: m, training: [u.training], prompts: [n] },
          u.method, session, (r, o) => generate(lm, undefined, r, { ...o, prefill: pastPrefill(lm, promptSlots(kv)) }), lm));
        break;
      }
      case 'prefix': {
        const p = trained.prefix.get(spec.size!)!;
        const slots = promptSlots(prefixKv(p.method));
        rows.push(adaptedRow({ id: spec.id, label: `${short} + prefix (${spec.size})`, kind: 'prefix', params: prefixParams(c, spec.size!), model: m, training: [p.training] },
          p.method, session, (r, o) => generate(lm, undefined, r, { ...o, prefill: pastPrefill(lm, slots) }), lm));
        break;
      }
      case 'lora': {
        const l = trained.lora.get(spec.size!)!;
        const loraLm = new CausalLM(m, { ...session, graph: { hooks: loraInferenceHooks(l.method) } });
        rows.push(adaptedRow({ id: spec.id, label: `${short} + LoRA (r = ${spec.size})`, kind: 'lora', params: loraParams(c, spec.size!, targets), model: m, training: [l.training] },
          l.method, session, (r, o) => generate(loraLm, undefined, r, o), loraLm));
        break;
      }
    }
  }
  return rows;
}
