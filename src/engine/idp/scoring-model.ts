// An IDP prompt bank as a benchmark model (scoring.ts's ScoringModel). Loglikelihood requests run
// unpacked (one row per request: context + continuation minus its last token) and only the context's
// tokens vote, so every choice of a multiple-choice item sees the prompt its shared context selected.
// Generation runs through IdpLM.generate (prefill with selection, then the plain cached decode).
// Each result carries its selection; the harness counts them per task.

import type { IdpLM } from './runner';
import type { Tokenizer } from '../tokenizers/tokenizer';
import type { ScoringModel } from '../eval/scoring';

export class IdpScoringModel implements ScoringModel {
  constructor(readonly idp: IdpLM, readonly tokenizer?: Tokenizer) {}

  /** The model's config with the context left after the bank's N positions. */
  get config(): IdpLM['config'] {
    return this.idp.config;
  }

  /** Prompts in the bank (selection counts list each). */
  get prompts(): number {
    return this.idp.bank.m;
  }

  /** Every token votes (perplexity-style use). */
  async logits(seqs: number[][]): Promise<Float32Array[]> {
    return (await this.idp.score(seqs)).logits;
  }

  /** Logits [len, V] per sequence; the first vote[i] tokens of sequence i choose its prompt. */
  async logitsVoting(seqs: number[][], vote: number[]): Promise<{ logits: Float32Array[]; selected: number[] }> {
    const r = await this.idp.score(seqs, vote);
    return { logits: r.logits, selected: r.selected };
  }

  async generateGreedy(prompts: number[][], o: { maxTokens: number; stop: string[]; stopIds: number[]; isCancelled?: () => boolean }):
    Promise<{ rows: Array<{ text: string; ids: number[] }>; selected: number[] }> {
    const r = await this.idp.generate(this.tokenizer, prompts, { maxTokens: o.maxTokens, stop: o.stop, stopIds: o.stopIds, isCancelled: o.isCancelled, temperature: 0 });
    return { rows: r.rows, selected: r.selected };
  }
}
