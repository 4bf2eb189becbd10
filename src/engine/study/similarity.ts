// Paper Figure 5: how close each row's internals stay to the uncompressed model's, layer by layer —
// the cosine similarity of the head-averaged attention maps and of the hidden states (the residual
// stream after each layer's MLP), averaged over held-out texts.
//
// Each row runs a probe graph: the model (with the row's adapter hooks) on the explicit attention path,
// every layer's probabilities averaged over heads as an output (probe_attn.i [B, T', S']) and every
// layer's residual output declared as an output ([B, T', d]). Only the text is compared: the text's
// query rows (the last T of T' — soft-prompt slots come first) and, for attention, the text's key
// columns (the last T of S' — prompt / prefix slots come first), so the maps have the base model's
// [T, T] shape; attention a row pays to prompt slots is simply absent from its text columns.
// IDP runs each text with the prompt that text selects (its forward with the selection at layer 0).

import * as ort from 'onnxruntime-node';
import type { LoadedModel } from '../models/config';
import { buildGraph } from '../models/graph';
import type { BuildHooks } from '../models/blocks';
import { createSession, releaseSessions, SessionOptions } from '../runtime/session';
import { batchFeeds } from '../train/batch';
import { trainIo } from '../train/graph';
import type { TrainMethod } from '../train/methods/method';
import { formatError } from '../errors';
import type { SimilarityAnalysis } from '../../protocol/study-schema';
import type { RowRuntime } from './rows';

const ATTN = (i: number) => `probe_attn.${i}`;
const RESIDUAL = /\/layers\.(\d+)\/residual_mlp$/;

export interface Probe {
  /** Per layer: head-averaged attention [T, T] over the text and hidden states [T, d]. */
  attention: Float32Array[];
  hidden: Float32Array[];
}

/** Runs a model (with an optional adapter) and returns every layer's text attention and hidden states. */
export class Prober {
  private sessions = new Map<TrainMethod | undefined, Promise<{ s: ort.InferenceSession; hidden: string[] }>>();

  constructor(readonly model: LoadedModel, readonly session: SessionOptions = {}) {}

  private open(method: TrainMethod | undefined) {
    let p = this.sessions.get(method);
    if (!p) {
      const m = this.model;
      const build = method?.graphOptions(false).build ?? {};
      const own = build.hooks ?? {};
      const hooks: BuildHooks = {
        ...own,
        attention: {
          ...own.attention,
          explicit: () => true,
          probs: (g, i, probs, scores) => {
            const q = own.attention?.probs ? own.attention.probs(g, i, probs, scores) : probs;           // [B, K, G, T', S']
            g.output(g.op('ReduceMean', [q, g.ints([1, 2])], { keepdims: 0 }, 'probe/head_mean'), ATTN(i), 'float');   // [B, T', S']
            return q;
          },
        },
      };
      const g = buildGraph(m, { ...build, logits: 'last', attention: 'explicit', hooks });
      const hidden: string[] = new Array(m.config.numLayers);
      for (const n of g.nodes) {
        const k = RESIDUAL.exec(n.name ?? '');
        if (k && Number(k[1]) < hidden.length) hidden[Number(k[1])] = n.output![0];
      }
      if (hidden.some((h) => !h) || hidden.length !== m.config.numLayers) throw formatError(m.source, 'cannot find every layer\'s residual output in the graph (similarity probe)');
      for (const h of hidden) g.declareOutput(h, 'float');
      p = createSession(g.toModelProto(), m.weightsDir, { ...this.session, sharedWeights: true }).then((s) => ({ s, hidden }));
      this.sessions.set(method, p);
    }
    return p;
  }

  /** Frees every probe session now. */
  async release(): Promise<void> {
    const all = [...this.sessions.values()].map((p) => p.then((x) => x.s));
    this.sessions.clear();
    await releaseSessions(all);
  }

  async run(ids: number[], method?: TrainMethod): Promise<Probe> {
    const { s, hidden } = await this.open(method);
    const lay = method?.layout ?? { promptSlots: 0, pastLen: 0, positionStart: 0 };
    const c = this.model.config;
    const feeds: Record<string, ort.Tensor> = batchFeeds(c, [ids], { ignoreFirst: lay.promptSlots, P: lay.pastLen, positionStart: lay.positionStart });
    delete feeds[trainIo.labels];
    const Tp = lay.promptSlots + ids.length;
    if (method) Object.assign(feeds, method.feeds({ B: 1, T: Tp, step: 0, micro: 0 }, false, 0));
    const out = await s.run(feeds);
    const T = ids.length;
    const attention: Float32Array[] = [];
    const hid: Float32Array[] = [];
    for (let l = 0; l < c.numLayers; l++) {
      const a = out[ATTN(l)];                                 // [1, T', S']
      const Sp = a.dims[2] as number;
      const data = a.data as Float32Array;
      const map = new Float32Array(T * T);                    // text queries × text keys
      for (let t = 0; t < T; t++) map.set(data.subarray((Tp - T + t) * Sp + Sp - T, (Tp - T + t) * Sp + Sp), t * T);
      attention.push(map);
      const h = out[hidden[l]];                               // [1, T', d]
      const d = h.dims[2] as number;
      hid.push((h.data as Float32Array).slice((Tp - T) * d, Tp * d));
    }
    return { attention, hidden: hid };
  }
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
  return aa === 0 || bb === 0 ? (aa === bb ? 1 : 0) : ab / Math.sqrt(aa * bb);
}

/** Per row and layer, the mean cosine similarity to `reference`'s attention maps and hidden states over `texts`. */
export async function similarity(reference: RowRuntime, rows: RowRuntime[], texts: number[][], session: SessionOptions,
  isCancelled?: () => boolean): Promise<SimilarityAnalysis | undefined> {
  const L = reference.model.config.numLayers;
  const probers = new Map<LoadedModel, Prober>();
  const prober = (m: LoadedModel) => { let p = probers.get(m); if (!p) probers.set(m, (p = new Prober(m, session))); return p; };
  try {
    const refs: Probe[] = [];
    for (const t of texts) refs.push(await prober(reference.model).run(t, await reference.probe(t)));
    const out: SimilarityAnalysis = { layers: L, samples: texts.length, rows: {} };
    for (const row of rows) {
      const attention = new Array<number>(L).fill(0);
      const hidden = new Array<number>(L).fill(0);
      for (const [k, t] of texts.entries()) {
        if (isCancelled?.()) return undefined;
        const p = await prober(row.model).run(t, await row.probe(t));
        for (let l = 0; l < L; l++) {
          attention[l] += cosine(p.attention[l], refs[k].attention[l]) / texts.length;
          hidden[l] += cosine(p.hidden[l], refs[k].hidden[l]) / texts.length;
        }
      }
      await row.release();   // IDP's probe ran its selection sessions
      out.rows[row.id] = { attention: attention.map((x) => +x.toFixed(6)), hidden: hidden.map((x) => +x.toFixed(6)) };
    }
    return out;
  } finally {
    await Promise.all([...probers.values()].map((p) => p.release()));
  }
}
