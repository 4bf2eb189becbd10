// Generation with an IDP prompt bank (the generate job's `bank`): the bank's IdpLM for the loaded model,
// kept between requests (its sessions and prompt K/V are the expensive part) until the model or the
// bank on disk changes, and the prompt IDP picked for the input.

import * as fs from 'fs';
import * as path from 'path';
import { IdpBank } from '../idp/bank';
import { IdpLM } from '../idp/runner';
import { notFound } from '../errors';
import type { LoadedModel } from '../models/config';

export interface IdpPick {
  /** Index of the picked prompt in the bank, its length, and every prompt's score. */
  selected: number;
  n: number;
  scores: number[];
}

export class BankRunners {
  private cached?: { key: string; model: LoadedModel; idp: IdpLM };

  /** The IdpLM of `bank` on `model` (loaded once per model and bank version). */
  get(model: LoadedModel, bank: string, threads?: number): IdpLM {
    const file = path.join(path.resolve(bank), 'bank.json');
    let stamp: number;
    try {
      stamp = fs.statSync(file).mtimeMs;
    } catch {
      throw notFound(file, 'no prompt bank here (train one with IDP: Train Prompt Bank or idp bank train)');
    }
    const key = `${file}|${stamp}`;
    if (this.cached && this.cached.key === key && this.cached.model === model) return this.cached.idp;
    const idp = new IdpLM(model, IdpBank.load(bank, model), { threads });
    this.cached = { key, model, idp };
    return idp;
  }
}

export const pickOf = (idp: IdpLM, selected: number[], scores: Float32Array[]): IdpPick | undefined =>
  selected.length ? { selected: selected[0], n: idp.bank.info[selected[0]].n, scores: Array.from(scores[0]) } : undefined;
