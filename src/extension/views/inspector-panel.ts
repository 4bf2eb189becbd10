// IDP: Open IDP Inspector — a webview panel showing, for the selection or the text around the cursor,
// which prompt of a bank IDP selects, every prompt's score and the attention maps per layer and head,
// optionally beside the uncompressed model's. The engine does the work (`idp/inspect`); this side
// finds the text and the bank, keeps the last view (a panel reopened or reloaded gets it again) and
// checks every message from the webview (a malformed one is logged and dropped).

import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import * as dialogs from '../dialogs';
import { activeBank } from '../commands/active-bank';
import { Ctx, ensureModel, lab, memory, trustState } from '../context';
import { readAllowed, requestProblem } from '../trust';
import { Methods } from '../../protocol/engine-rpc';
import { findBanks } from './banks';
import { inspectorInput } from './inspector-input';
import { FromInspector, fromInspector, InspectorView, ToInspector } from '../../protocol/webview/inspector';
import { validate } from '../../protocol/webview/validate';
import { webviewHtml, webviewOptions } from './webview-html';
import type { InspectParams } from '../../protocol/engine-rpc';

export interface InspectorArgs { bank?: string; text?: string; compare?: boolean | string }

/** What tests and automation can see of the panel. */
export interface InspectorState {
  view?: InspectorView;
  rendered?: Extract<FromInspector, { type: 'rendered' }>;
  problems: string[];
  visible: boolean;
}

function checkArgs(a: unknown): a is InspectorArgs | undefined {
  if (a === undefined) return true;
  if (!a || typeof a !== 'object' || Array.isArray(a)) return false;
  const o = a as Record<string, unknown>;
  return Object.keys(o).every((k) => ['bank', 'text', 'compare'].includes(k))
    && (o.bank === undefined || typeof o.bank === 'string')
    && (o.text === undefined || typeof o.text === 'string')
    && (o.compare === undefined || typeof o.compare === 'boolean' || typeof o.compare === 'string');
}

export class InspectorPanel implements vscode.Disposable {
  private static current?: InspectorPanel;
  readonly state: InspectorState = { problems: [], visible: true };
  private request?: { text: string; source: string; bank: string; compare?: string };
  private compareOn = false;
  private seq = 0;
  private disposables: vscode.Disposable[] = [];

  private constructor(private readonly ctx: Ctx, private readonly panel: vscode.WebviewPanel) {
    panel.webview.html = webviewHtml(panel.webview, ctx.ext.extensionUri, 'inspector', 'IDP Inspector');
    this.disposables.push(
      panel.webview.onDidReceiveMessage((m: unknown) => this.receive(m)),
      panel.onDidChangeViewState(() => { this.state.visible = panel.visible; }),
      panel.onDidDispose(() => this.dispose()),
    );
  }

  static get active(): InspectorPanel | undefined {
    return InspectorPanel.current;
  }

  static show(ctx: Ctx): InspectorPanel {
    const cur = InspectorPanel.current;
    if (cur) {
      cur.panel.reveal(vscode.ViewColumn.Beside, true);
      return cur;
    }
    const panel = vscode.window.createWebviewPanel('idp.inspector', 'IDP Inspector', { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
      { ...webviewOptions(ctx.ext.extensionUri), retainContextWhenHidden: false });
    InspectorPanel.current = new InspectorPanel(ctx, panel);
    return InspectorPanel.current;
  }

  private post(m: ToInspector): void {
    void this.panel.webview.postMessage(m);
  }

  private receive(raw: unknown): void {
    const r = validate(fromInspector, raw, 'inspector message');
    if (!r.ok) {
      this.ctx.log.error(`IDP Inspector: rejected a message from the webview: ${r.error.message}`);
      this.state.problems.push(r.error.message);
      return;
    }
    const m = r.value;
    switch (m.type) {
      case 'ready':
        if (this.state.view) this.post({ type: 'view', view: this.state.view });
        break;
      case 'refresh':
        // the current selection / cursor of the last editor, with the bank shown
        void vscode.commands.executeCommand('idp.openInspector', this.request ? { bank: this.request.bank } : undefined);
        break;
      case 'setCompare':
        this.compareOn = m.on;
        if (this.request) void this.run();
        break;
      case 'rendered':
        if (m.seq === this.state.view?.seq) this.state.rendered = m;
        break;
      case 'problem':
        this.ctx.log.warn(`IDP Inspector (webview): ${m.message}`);
        this.state.problems.push(m.message);
        break;
    }
  }

  /** Inspects `text` with `bank` and shows it; returns what is shown (undefined on failure, which the panel shows). */
  async inspect(text: string, source: string, bank: string, compare?: boolean | string): Promise<InspectorView | undefined> {
    if (compare !== undefined) this.compareOn = compare !== false;
    // a path compares with that model (kept for the toggle); `true` with the bank model's source; none: as before
    const cmp = typeof compare === 'string' ? compare : compare === undefined && this.request?.bank === bank ? this.request.compare : undefined;
    this.request = { text, source, bank, compare: cmp };
    return this.run();
  }

  private async run(): Promise<InspectorView | undefined> {
    const req = this.request!;
    const compareOn = this.compareOn;
    this.post({ type: 'busy', text: req.source });
    try {
      // bank.json is read here: in Restricted Mode only a bank the engine could read too (trust.ts)
      const trust = trustState(this.ctx);
      const refused = requestProblem(trust, Methods.inspect.method, { bank: req.bank });
      if (refused) throw refused;
      // the bank's own model (loaded for the inspection only), else the editor's; one Restricted Mode does
      // not allow is sent as named, so the request's check refuses it (it is not even looked for)
      const named = bankSource(req.bank);
      const model = named !== undefined && (!readAllowed(trust, named) || fs.existsSync(named)) ? named : undefined;
      if (!model) await ensureModel(this.ctx);
      if (!(await this.ctx.engine.capabilities()).includes('inspect')) throw new Error('this engine cannot inspect (no \'inspect\' capability)');
      const p: InspectParams = { bank: req.bank, ...(model ? { model } : {}), text: req.text, heads: true, ...(compareOn ? { compare: req.compare ?? true } : {}) };
      const reply = await this.ctx.engine.inspect(p);
      if (this.request !== req || this.compareOn !== compareOn) return this.state.view; // superseded
      const view: InspectorView = {
        seq: ++this.seq, source: req.source, text: req.text, model: reply.model, bank: reply.bank, dropped: reply.dropped, report: reply.report,
        compareOn, ...(reply.compare ? { compare: reply.compare } : {}),
      };
      this.state.view = view;
      this.state.rendered = undefined;
      this.post({ type: 'view', view });
      this.ctx.log.info(`IDP Inspector: ${req.source}: prompt ${reply.report.selected} selected (scores ${reply.report.scores.map((s) => s.toFixed(3)).join(', ')})`
        + (reply.compare ? `; uncompressed model: prompt ${reply.compare.report.selected}` : ''));
      return view;
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      this.ctx.log.error(`IDP Inspector: ${message}`);
      this.post({ type: 'error', message, compareOn });
      return undefined;
    }
  }

  dispose(): void {
    if (InspectorPanel.current === this) InspectorPanel.current = undefined;
    this.state.visible = false;
    for (const d of this.disposables.splice(0)) d.dispose();
    this.panel.dispose();
  }
}

/** The model a bank was made for (bank.json's model.source), as it names it. */
export function bankSource(bank: string): string | undefined {
  try {
    const src = (JSON.parse(fs.readFileSync(path.join(bank, 'bank.json'), 'utf8')) as { model?: { source?: unknown } }).model?.source;
    return typeof src === 'string' && src.trim() !== '' ? src : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The bank to inspect with: given, else the active bank (trained last), else the one remembered (if it
 * still exists), else the lab folder's only one, else one picked.
 */
async function chooseBank(ctx: Ctx, given?: string): Promise<string | undefined> {
  if (given) return given;
  const active = activeBank(ctx);
  if (active) return active.bank;
  const banks = findBanks(lab(ctx).root);
  const remembered = memory.get<string | undefined>(ctx, 'inspectorBank', undefined);
  if (remembered && banks.some((b) => b.dir === remembered)) return remembered;
  if (banks.length === 1) return banks[0].dir;
  const root = lab(ctx).root;
  type Item = vscode.QuickPickItem & { dir?: string };
  const items: Item[] = banks.map((b) => ({ label: path.relative(root, b.dir) || b.dir, description: b.prompts ? `prompts ${b.prompts.join(', ')}` : undefined, detail: b.dir, dir: b.dir }));
  // Restricted Mode: only the lab's banks
  if (vscode.workspace.isTrusted) items.push({ label: '$(folder-opened) Browse…', description: 'a folder with bank.json (IDP: Train Prompt Bank writes one)' });
  const pick = await dialogs.pick(items, { title: 'IDP Inspector: prompt bank', placeHolder: banks.length ? 'Which bank?' : 'No bank in the lab folder yet: pick a folder' });
  if (!pick) return undefined;
  let dir = pick.dir;
  if (!dir) {
    const uri = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, openLabel: 'Use this bank', title: 'A prompt bank folder (with bank.json)' });
    dir = uri?.[0]?.fsPath;
  }
  if (dir) await memory.set(ctx, 'inspectorBank', dir);
  return dir;
}

/** The last text editor that had focus: the panel's *Inspect selection* runs while the panel has it. */
let lastEditor: vscode.TextEditor | undefined;
export function trackEditors(): vscode.Disposable {
  lastEditor = vscode.window.activeTextEditor;
  return vscode.window.onDidChangeActiveTextEditor((e) => { if (e) lastEditor = e; });
}

export const openInspector = (ctx: Ctx) => async (arg?: unknown): Promise<InspectorView | undefined> => {
  if (!checkArgs(arg)) {
    void vscode.window.showErrorMessage('IDP: Open IDP Inspector expects {bank?, text?, compare?}.');
    return undefined;
  }
  let text = arg?.text;
  let source = 'argument';
  if (text === undefined) {
    const ed = vscode.window.activeTextEditor
      ?? (lastEditor && vscode.window.visibleTextEditors.some((e) => e.document === lastEditor!.document) ? lastEditor : undefined);
    if (!ed) {
      void vscode.window.showInformationMessage('IDP Inspector: open a file and select some text (or put the cursor after it) first.');
      return undefined;
    }
    const s = ed.selection;
    const lines = Array.from({ length: ed.document.lineCount }, (_, i) => ed.document.lineAt(i).text);
    const input = inspectorInput(lines, { startLine: s.start.line, startChar: s.start.character, endLine: s.end.line, endChar: s.end.character });
    text = input.text;
    source = `${input.kind === 'selection' ? 'selection' : 'around the cursor'} in ${path.basename(ed.document.fileName)}`;
  }
  const bank = await chooseBank(ctx, arg?.bank);
  if (!bank) return undefined;
  if (!readAllowed(trustState(ctx), bank)) {
    void vscode.window.showWarningMessage(`IDP Inspector: this workspace is not trusted, so only the lab's own banks can be inspected (not ${bank}). Trust the workspace to use other files.`);
    return undefined;
  }
  const panel = InspectorPanel.show(ctx);
  return panel.inspect(text, source, bank, arg?.compare);
};
