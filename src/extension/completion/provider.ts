// The InlineCompletionItemProvider: reads the context around the cursor, asks the Completer, and
// reports latency and tokens/s to the status bar. Settings: idp.inlineCompletion.*.

import type { FimChoice } from '../../engine/fim';
import * as vscode from 'vscode';
import { Ctx, ensureModel } from '../context';
import type { StatusBar } from '../status-bar';
import { Completer } from './completer';
import { enabledFor } from './policy';
import { activeBank, notePicked } from '../commands/active-bank';
import { sameFile } from '../paths';

const MAX_PREFIX_CHARS = 4000;
const MAX_SUFFIX_CHARS = 1000;

const cfg = () => vscode.workspace.getConfiguration('idp.inlineCompletion');

export function completionEnabled(languageId?: string): boolean {
  if (!cfg().get<boolean>('enable', false)) return false;
  return languageId === undefined || enabledFor(cfg().get<Record<string, unknown>>('languages'), languageId);
}

export class IdpInlineCompletionProvider implements vscode.InlineCompletionItemProvider {
  readonly completer: Completer;
  private failures = 0;
  /** The prompt IDP picked for the last completion (its length), if a bank was used. */
  private picked?: number;
  /** How many calls declined (off for the language) or answered (items or none): tests wait on these. */
  readonly served = { declined: 0, answered: 0 };

  constructor(private readonly ctx: Ctx, private readonly status: StatusBar) {
    // with the active IDP bank when it belongs to the loaded model: IDP picks a prompt per completion
    this.completer = new Completer(async (p, token) => {
      const active = activeBank(ctx);
      const bank = active && ctx.engine.model && sameFile(active.model, ctx.engine.model.path) ? active.bank : undefined;
      const r = await ctx.engine.generate({ ...p, bank }, undefined, token);
      this.picked = r.idp?.n;
      if (bank && r.idp) void notePicked(ctx, bank, r.idp.n);
      return r;
    });
  }

  async provideInlineCompletionItems(
    doc: vscode.TextDocument, pos: vscode.Position, context: vscode.InlineCompletionContext, token: vscode.CancellationToken,
  ): Promise<vscode.InlineCompletionItem[] | undefined> {
    if (!completionEnabled(doc.languageId)) {
      this.served.declined++;
      return undefined;
    }
    try {
      return await this.answer(doc, pos, context, token);
    } finally {
      this.served.answered++;
    }
  }

  private async answer(
    doc: vscode.TextDocument, pos: vscode.Position, context: vscode.InlineCompletionContext, token: vscode.CancellationToken,
  ): Promise<vscode.InlineCompletionItem[] | undefined> {
    const offset = doc.offsetAt(pos);
    const text = doc.getText();
    const prefix = text.slice(Math.max(0, offset - MAX_PREFIX_CHARS), offset);
    const suffix = text.slice(offset, offset + MAX_SUFFIX_CHARS);
    try {
      const model = await ensureModel(this.ctx);
      if (token.isCancellationRequested) return undefined;
      const folder = vscode.workspace.getWorkspaceFolder(doc.uri);
      const where = folder ? { repo: folder.name, path: vscode.workspace.asRelativePath(doc.uri, false) } : {};
      const r = await this.completer.complete(
        { prefix, suffix, languageId: doc.languageId, explicit: context.triggerKind === vscode.InlineCompletionTriggerKind.Invoke, ...where },
        {
          maxTokens: cfg().get<number>('maxTokens', 32), maxLines: cfg().get<number>('maxLines', 4), model: model.path,
          fimTemplate: cfg().get<FimChoice>('fimTemplate', 'auto'),
        },
        token,
      );
      this.failures = 0;
      if (!r) return undefined;
      if (r.source === 'engine') {
        this.status.setCompletion(true, { latencyMs: r.latencyMs, tokensPerSecond: r.tokensPerSecond ?? 0, prompt: this.picked !== undefined ? String(this.picked) : undefined });
      }
      return [new vscode.InlineCompletionItem(r.text, new vscode.Range(pos, pos))];
    } catch (e) {
      // completion is best effort: log, and say so once rather than on every keystroke
      if (this.failures++ === 0) {
        this.ctx.log.warn(`inline completion: ${(e as Error).message}`);
        void vscode.window.showWarningMessage(`IDP inline completion: ${(e as Error).message}`);
      }
      return undefined;
    }
  }
}

/** IDP: Toggle Inline Completion — flips idp.inlineCompletion.enable (user settings). */
export const toggleInlineCompletion = (ctx: Ctx, status: StatusBar) => async (): Promise<boolean> => {
  const on = !cfg().get<boolean>('enable', false);
  await cfg().update('enable', on, vscode.ConfigurationTarget.Global);
  status.setCompletion(on);
  ctx.log.info(`inline completion ${on ? 'on' : 'off'}`);
  void vscode.window.showInformationMessage(`IDP: inline completion is ${on ? 'on' : 'off'}.`);
  return on;
};
