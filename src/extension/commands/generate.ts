// IDP: Generate from Prompt… — a prompt (the last one remembered), generation as a job with
// streamed progress, the text in the log and a run record in the lab folder.

import * as vscode from 'vscode';
import * as dialogs from '../dialogs';
import { Ctx, ensureModel, lab, memory } from '../context';
import { generateMaxTokens } from '../settings';
import type { GenerateReply } from '../../protocol/engine-rpc';
import { activeBank, notePicked } from './active-bank';
import { sameFile } from '../paths';

export interface GenerateArgs { prompt?: string; maxTokens?: number; temperature?: number; seed?: number }

function checkArgs(a: unknown): a is GenerateArgs {
  if (a === undefined) return true;
  if (!a || typeof a !== 'object') return false;
  const o = a as Record<string, unknown>;
  return (o.prompt === undefined || typeof o.prompt === 'string')
    && (o.maxTokens === undefined || (Number.isInteger(o.maxTokens) && (o.maxTokens as number) >= 1))
    && (o.temperature === undefined || typeof o.temperature === 'number')
    && (o.seed === undefined || Number.isInteger(o.seed));
}

export const generateCmd = (ctx: Ctx) => async (arg?: unknown): Promise<(GenerateReply & { run: string }) | undefined> => {
  if (!checkArgs(arg)) {
    void vscode.window.showErrorMessage('IDP: Generate expects {prompt?, maxTokens?, temperature?, seed?}.');
    return undefined;
  }
  let prompt = arg?.prompt;
  if (prompt === undefined) {
    prompt = await dialogs.input({
      title: 'IDP: Generate from Prompt', prompt: 'Prompt (empty: generate from the start-of-text token)',
      value: memory.get(ctx, 'generatePrompt', 'Once upon a time'), ignoreFocusOut: true,
    });
    if (prompt === undefined) return undefined;
    await memory.set(ctx, 'generatePrompt', prompt);
  }
  const maxTokens = arg?.maxTokens ?? generateMaxTokens();
  const outcome = await ctx.jobs.run('Generating', async (report, token) => {
    report({ message: 'loading the model' });
    const model = await ensureModel(ctx);
    // the active IDP bank, when it was trained for this model: IDP picks one of its prompts
    const active = activeBank(ctx);
    const bank = active && sameFile(active.model, model.path) ? active.bank : undefined;
    report({ fraction: 0, message: bank ? 'generating with IDP' : 'generating' });
    const r = await ctx.engine.generate(
      { prompt, maxTokens, temperature: arg?.temperature, seed: arg?.seed, bank },
      (p) => report({ fraction: p.tokens / p.maxTokens, tokensPerSecond: p.tokensPerSecond }),
      token,
    );
    if (token.isCancellationRequested) return undefined;
    const run = lab(ctx).commitRun('generate', {
      model: model.path, prompt, maxTokens, temperature: arg?.temperature ?? 0, seed: arg?.seed ?? 42,
      text: r.text, ids: r.ids, finish: r.finish, timings: r.timings, ...(bank ? { bank, idp: r.idp } : {}),
    });
    if (bank && r.idp) await notePicked(ctx, bank, r.idp.n);
    return { ...r, run };
  });
  if (!outcome.ok || !outcome.value) return undefined;
  const r = outcome.value;
  if (r.idp) ctx.log.info(`IDP picked the ${r.idp.n}-token prompt (scores ${r.idp.scores.map((x) => x.toFixed(3)).join(', ')})`);
  ctx.log.info(`generated (${r.ids.length} tokens, ${r.timings.decode_tokens_per_s.toFixed(0)} tok/s, ${r.finish}) → ${r.run}`);
  ctx.log.appendLine(`${prompt}${r.text}`);
  ctx.log.show(true);
  return r;
};
