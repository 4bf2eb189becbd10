// Every QuickPick and InputBox of the extension opens through pick() / input(), which record the
// dialog that is open and whether the workbench has shown it. VS Code's API does not say whether a
// picker is on screen, and a keyboard command ('workbench.action.acceptSelectedQuickOpenItem') sent
// before it is shown is lost; automation and the integration tests wait on this record instead of
// waiting a fixed time.
//
// "Shown" is the workbench's own word, not a guess: for a QuickPick it is the first item the
// workbench makes active (onDidSelectItem is called from the renderer once the items are rendered);
// for an InputBox it is the workbench validating the initial value, which it does as it shows the box.
// A multi-select QuickPick makes no item active until the keyboard moves: automation moves once
// ('workbench.action.quickOpenSelectNext') and then sees it shown.

import * as vscode from 'vscode';

export interface OpenDialog {
  kind: 'pick' | 'input';
  title?: string;
  /** The QuickPick's placeHolder, or the InputBox's prompt. */
  placeHolder?: string;
  /** A multi-select QuickPick (see above). */
  many: boolean;
  /** The QuickPick's item labels, in order. */
  items: string[];
  /** Whether the workbench has shown it (see above). */
  shown: boolean;
  /** The label of the QuickPick item the workbench has made active. */
  active?: string;
}

let current: OpenDialog | undefined;

/** The dialog open now, if any (for automation and the integration tests): a new object per dialog. */
export function openDialog(): OpenDialog | undefined {
  return current;
}

function track<R>(d: OpenDialog, shown: Thenable<R>): Thenable<R> {
  current = d;
  const done = () => {
    if (current === d) current = undefined;
  };
  return shown.then((v) => (done(), v), (e) => (done(), Promise.reject(e)));
}

export function pick<T extends vscode.QuickPickItem>(items: readonly T[], options: vscode.QuickPickOptions & { canPickMany: true }): Thenable<T[] | undefined>;
export function pick<T extends vscode.QuickPickItem>(items: readonly T[], options?: vscode.QuickPickOptions): Thenable<T | undefined>;
export function pick<T extends vscode.QuickPickItem>(items: readonly T[], options: vscode.QuickPickOptions = {}): Thenable<T | T[] | undefined> {
  const d: OpenDialog = { kind: 'pick', title: options.title, placeHolder: options.placeHolder, many: !!options.canPickMany, items: items.map((i) => i.label), shown: false };
  const onDidSelectItem = (item: vscode.QuickPickItem | string) => {
    d.shown = true;
    d.active = typeof item === 'string' ? item : item.label;
    return options.onDidSelectItem?.(item);
  };
  return track(d, vscode.window.showQuickPick(items, { ...options, onDidSelectItem } as vscode.QuickPickOptions) as Thenable<T | T[] | undefined>);
}

export function input(options: vscode.InputBoxOptions): Thenable<string | undefined> {
  const d: OpenDialog = { kind: 'input', title: options.title, placeHolder: options.prompt, many: false, items: [], shown: false };
  const validateInput = (value: string) => {
    d.shown = true;
    return options.validateInput?.(value);
  };
  return track(d, vscode.window.showInputBox({ ...options, validateInput }));
}
