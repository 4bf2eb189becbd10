// Driving the extension's QuickPicks and InputBoxes from the integration tests through the real
// workbench: wait until the workbench has shown the dialog (the extension's record, dialogs.ts),
// move with the keyboard commands, accept or close, and wait until the extension has its answer.

import { strict as assert } from 'assert';
import * as vscode from 'vscode';
import { api } from './helpers';
import { waitFor } from '../../helpers/wait';
import type { OpenDialog } from '../../../src/extension/dialogs';

export interface Answer {
  /** How many times to move to the next item before accepting. */
  next?: number;
  /** The label of the item accepted (a QuickPick) must match this. */
  expect?: RegExp;
  /** Close the dialog instead of accepting (Escape). */
  dismiss?: boolean;
}

const NEXT = 'workbench.action.quickOpenSelectNext';

/**
 * Waits for the dialog whose placeholder (QuickPick) or prompt (InputBox) contains `name` to be
 * shown. A multi-select QuickPick says so only once an item is made active: it is moved to its first
 * item (at most once a second, while it is open and not yet shown).
 */
export async function shown(name: string): Promise<OpenDialog> {
  const a = await api();
  let nudged = 0;
  return waitFor(`the dialog "${name}" to be shown`, async () => {
    const d = a.openDialog();
    if (!d?.placeHolder?.includes(name)) return undefined;
    if (!d.shown && d.many && Date.now() - nudged > 1000) {
      nudged = Date.now();
      await vscode.commands.executeCommand(NEXT);
    }
    return d.shown ? d : undefined;
  });
}

/** Answers the dialog `name` once it is shown; resolves when the extension has the answer. */
export async function answer(name: string, how: Answer = {}): Promise<void> {
  const a = await api();
  const d = await shown(name);
  for (let i = 0; i < (how.next ?? 0); i++) {
    const to = d.items[d.items.indexOf(d.active ?? '') + 1];
    await vscode.commands.executeCommand(NEXT);
    await waitFor(`"${name}" to make ${JSON.stringify(to)} active (items ${JSON.stringify(d.items)})`, () => d.active === to);
  }
  if (how.expect) assert.match(d.active ?? '', how.expect, `the item accepted in "${name}" (items ${JSON.stringify(d.items)})`);
  const command = how.dismiss ? 'workbench.action.closeQuickOpen' : 'workbench.action.acceptSelectedQuickOpenItem';
  // a keyboard command that reaches the workbench before the dialog has focus is lost: it is sent
  // again while this dialog is still the one open, at most once a second
  let sent = 0;
  await waitFor(`"${name}" to close after ${command}`, async () => {
    if (a.openDialog() !== d) return true;
    if (Date.now() - sent > 1000) {
      sent = Date.now();
      await vscode.commands.executeCommand(command);
    }
    return a.openDialog() !== d;
  });
}
