// The active IDP prompt bank: the one trained last (or chosen), remembered per workspace. The status
// bar shows it with the prompt IDP picked last; Run Benchmark and the Inspector default to it. A bank
// whose folder is gone is not active, nor one Restricted Mode does not let the engine read (trust.ts).

import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { Ctx, trustState } from '../context';
import { readAllowed } from '../trust';

export interface ActiveBank {
  bank: string;
  /** The model it was trained on. */
  model: string;
  prompts: number[];
  /** Length of the prompt IDP picked last (generation or benchmark), if any. */
  picked?: number;
}

const KEY = 'idp.activeBank';
const changed = new vscode.EventEmitter<ActiveBank | undefined>();
/** Fired when the active bank or the prompt it picked last changes. */
export const onActiveBankChanged = changed.event;

export function activeBank(ctx: Ctx): ActiveBank | undefined {
  const b = ctx.ext.workspaceState.get<ActiveBank>(KEY);
  return b && readAllowed(trustState(ctx), b.bank) && fs.existsSync(path.join(b.bank, 'bank.json')) ? b : undefined;
}

export async function setActiveBank(ctx: Ctx, b: ActiveBank | undefined): Promise<void> {
  await ctx.ext.workspaceState.update(KEY, b);
  changed.fire(b);
}

/** Records the prompt IDP picked (by its length) for the active bank. */
export async function notePicked(ctx: Ctx, bank: string, n: number): Promise<void> {
  const b = activeBank(ctx);
  if (!b || path.resolve(b.bank) !== path.resolve(bank)) return;
  await setActiveBank(ctx, { ...b, picked: n });
}
