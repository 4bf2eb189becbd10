// IDP: Cancel Job, IDP: Restart Engine, IDP: Show Log, and what the user is told when the engine dies.

import * as vscode from 'vscode';
import * as dialogs from '../dialogs';
import type { Ctx } from '../context';
import type { Job } from '../jobs';

export const cancelJob = (ctx: Ctx) => (): Promise<boolean> =>
  ctx.jobs.cancel(async (jobs: Job[]) => {
    const pick = await dialogs.pick(
      jobs.map((j) => ({ label: j.title, description: `running for ${Math.round((Date.now() - j.started) / 1000)} s`, job: j })),
      { title: 'IDP: Cancel Job', placeHolder: 'Job to cancel' },
    );
    return pick?.job;
  });

export const restartEngine = (ctx: Ctx) => async (): Promise<number | undefined> => {
  const r = await ctx.jobs.run('Restarting the engine', async () => {
    await ctx.engine.restart('asked by the user');
    ctx.modelChanged.fire(ctx.engine.model);
    return ctx.engine.processId();
  });
  return r.ok ? r.value : undefined;
};

export const showLog = (ctx: Ctx) => (): void => ctx.log.show();

/** The engine died: say so (not modal, never awaited) and offer the log. */
export function reportCrash(ctx: Ctx, reason: string, restarting: boolean): void {
  ctx.log.error(reason);
  ctx.modelChanged.fire(null);
  const text = restarting ? `IDP: ${reason}. Restarting it…` : `IDP: ${reason}. It was not restarted; run "IDP: Restart Engine" to try again.`;
  const buttons = restarting ? ['Show Log'] : ['Restart Engine', 'Show Log'];
  void vscode.window.showWarningMessage(text, ...buttons).then((b) => {
    if (b === 'Show Log') ctx.log.show(true);
    if (b === 'Restart Engine') void vscode.commands.executeCommand('idp.restartEngine');
  });
}
