// Driving inline completion from the integration tests: trigger, then wait for the extension's
// provider to have answered (or declined) — the editor asks it asynchronously — instead of a fixed time.

import * as vscode from 'vscode';
import { api } from './helpers';
import { waitFor } from '../../helpers/wait';

/** Triggers an inline suggestion and waits for the provider to answer (`declined`: to decline) this call. */
export async function suggested(declined = false): Promise<void> {
  const { served } = (await api()).inline;
  const before = declined ? served.declined : served.answered;
  await vscode.commands.executeCommand('editor.action.inlineSuggest.trigger');
  await waitFor(`the inline completion provider to ${declined ? 'decline' : 'answer'}`, () => (declined ? served.declined : served.answered) > before);
}

/**
 * Triggers and commits until the document changes: the ghost text is shown some time after the
 * provider answers, and a commit before it is a no-op, so a lost commit is tried again (with a deadline).
 */
export async function triggerAndCommit(ed: vscode.TextEditor, before: string): Promise<string> {
  return waitFor('the inline suggestion to be committed into the document', async () => {
    await suggested();
    await vscode.commands.executeCommand('editor.action.inlineSuggest.commit');
    return ed.document.getText() !== before ? ed.document.getText() : undefined;
  }, 60000);
}
