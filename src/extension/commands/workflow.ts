// What the workflow commands (compress, train bank, train baseline, benchmark, study) share: a job
// whose results are written into a staged lab run and committed only when it succeeds, pickers for
// a model and for data (remembered, with sensible defaults), workspace-trust checks on paths, and
// progress lines in the log.

import * as vscode from 'vscode';
import * as dialogs from '../dialogs';
import { Ctx, lab, memory, trustState } from '../context';
import { requestProblem } from '../trust';
import type { StagedRun } from '../lab';
import type { ProgressSample } from '../progress-format';
import { modelLabel, sameFile } from '../paths';
import { modelLoadParams } from '../settings';
import { defaultModelPath } from '../../engine/defaults';
import type { DataSource } from '../../protocol/engine-rpc';

export interface WorkflowResult<T> { run: string; value: T }

/**
 * Runs `body` as a job writing into a staged run of `kind`: committed (run.json + rename) when it
 * returns a record, discarded when it is cancelled, returns nothing or fails. Never rejects.
 */
export async function runStaged<T>(
  ctx: Ctx, title: string, kind: string,
  body: (stage: StagedRun, report: (p: ProgressSample) => void, token: vscode.CancellationToken) => Promise<{ value: T; record: Record<string, unknown> } | undefined>,
): Promise<WorkflowResult<T> | undefined> {
  const outcome = await ctx.jobs.run(title, async (report, token) => {
    const stage = lab(ctx).stageRun(kind);
    try {
      const r = await body(stage, report, token);
      if (!r || token.isCancellationRequested) {
        stage.discard();
        return undefined;
      }
      return { run: stage.commit(r.record), value: r.value };
    } catch (e) {
      stage.discard();
      throw e;
    }
  });
  return outcome.ok ? outcome.value : undefined;
}

/** A progress reporter that also logs a line whenever the stage text changes (at most every 2 s otherwise). */
export function loggedProgress(ctx: Ctx, what: string, report: (p: ProgressSample) => void): (p: ProgressSample) => void {
  let lastMessage = '';
  let lastAt = 0;
  return (p) => {
    report(p);
    const now = Date.now();
    const msg = p.message ?? '';
    if (msg !== lastMessage || now - lastAt > 2000) {
      lastMessage = msg;
      lastAt = now;
      const pct = p.fraction !== undefined ? `${Math.floor(p.fraction * 100)}% ` : '';
      const tps = p.tokensPerSecond ? ` (${Math.round(p.tokensPerSecond)} tok/s)` : '';
      ctx.log.info(`${what}: ${pct}${msg}${tps}`);
    }
  };
}

/**
 * Refuses (with a message) a request the workspace's trust does not allow (trust.ts: every path it
 * reads, by the same check EngineClient makes on every request); true when it is allowed. Run before
 * a job starts, so a refused request leaves no failed job behind.
 */
export function checkRequest(ctx: Ctx, title: string, method: string, params: object): boolean {
  const problem = requestProblem(trustState(ctx), method, params);
  if (!problem) return true;
  void vscode.window.showWarningMessage(`IDP: ${title}: this workspace is not trusted, so only the default model, the lab's own results and the staged data can be used (${problem.message}). Trust the workspace to use other files.`);
  return false;
}

interface PathPick extends vscode.QuickPickItem { path?: string; browse?: boolean }

/** Models the lab has compressed, newest first. */
export function compressedModels(ctx: Ctx): Array<{ path: string; label: string; run: string }> {
  return lab(ctx).listRuns('compress')
    .filter((r) => typeof r.model === 'string')
    .map((r) => ({ path: r.model as string, label: String(r.description ?? r.method ?? 'compressed'), run: r.id }));
}

/** A workflow's model when none is given: the newest compressed model of the lab, else the current model. */
export function defaultWorkflowModel(ctx: Ctx): string {
  return compressedModels(ctx)[0]?.path ?? modelLoadParams().model;
}

/**
 * A model for a workflow: compressed models from the lab (first when `preferCompressed`), the current
 * model, the default model, or one browsed to (trusted workspaces). The last pick comes first.
 */
export async function pickModel(ctx: Ctx, title: string, key: string, preferCompressed: boolean): Promise<string | undefined> {
  const items: PathPick[] = [];
  const current = modelLoadParams().model;
  const compressed = compressedModels(ctx).slice(0, 8).map((c): PathPick => ({ label: `$(file-zip) ${c.label}`, description: modelLabel(c.path).label, detail: `compressed in ${c.run}`, path: c.path }));
  const plain: PathPick[] = [{ label: '$(circuit-board) Current model', description: modelLabel(current).label, detail: current, path: current }];
  if (!sameFile(current, defaultModelPath())) plain.push({ label: '$(package) Default model', description: modelLabel(defaultModelPath()).label, detail: 'the embedded default model', path: defaultModelPath() });
  items.push(...(preferCompressed ? [...compressed, ...plain] : [...plain, ...compressed]));
  const last = memory.get<string | undefined>(ctx, key, undefined);
  const at = last ? items.findIndex((i) => i.path && sameFile(i.path, last)) : -1;
  if (at > 0) items.unshift(...items.splice(at, 1));
  if (vscode.workspace.isTrusted) items.push({ label: '$(folder-opened) Browse…', detail: 'a Hugging Face or GPTQ folder, a .gguf file or a llama2.c .bin', browse: true });
  const pick = await dialogs.pick(items, { title, placeHolder: 'Model', matchOnDetail: true, ignoreFocusOut: true });
  if (!pick) return undefined;
  let chosen = pick.path;
  if (pick.browse) {
    const uris = await vscode.window.showOpenDialog({ canSelectFiles: true, canSelectFolders: true, canSelectMany: false, openLabel: 'Use Model', title });
    chosen = uris?.[0]?.fsPath;
  }
  if (chosen) await memory.set(ctx, key, chosen);
  return chosen;
}

const CORPUS_GLOB = '**/*.{ts,tsx,js,jsx,mjs,py,md,txt,jsonl}';
const CORPUS_EXCLUDE = '**/{node_modules,.git,.idp,out,dist,build}/**';

/** Text files of the workspace (a corpus for training and held-out tasks), at most `max`. */
export async function workspaceCorpus(max = 200): Promise<string[]> {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder || folder.uri.scheme !== 'file' || !vscode.workspace.isTrusted) return [];
  const uris = await vscode.workspace.findFiles(new vscode.RelativePattern(folder, CORPUS_GLOB), CORPUS_EXCLUDE, max);
  return uris.map((u) => u.fsPath).sort();
}

/** Languages a bank can give one prompt each: file extension → name. */
const LANGUAGES: Record<string, string> = {
  ts: 'TypeScript', tsx: 'TypeScript (TSX)', js: 'JavaScript', jsx: 'JavaScript (JSX)', mjs: 'JavaScript (ESM)', py: 'Python', md: 'Markdown',
  txt: 'Plain text', json: 'JSON', jsonl: 'JSON Lines', rs: 'Rust', go: 'Go', java: 'Java', c: 'C', h: 'C header', cpp: 'C++', cs: 'C#',
  rb: 'Ruby', php: 'PHP', css: 'CSS', html: 'HTML', yaml: 'YAML', yml: 'YAML', toml: 'TOML', sh: 'Shell',
};

export interface WorkspaceLanguage { ext: string; name: string; files: string[] }

/**
 * The workspace's text files grouped by language (its extension), most files first; only languages with at
 * least `min` files (a prompt's text is split into training and held-out documents), at most `perLanguage` each.
 */
export async function workspaceLanguages(min = 4, perLanguage = 200, max = 3000): Promise<WorkspaceLanguage[]> {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder || folder.uri.scheme !== 'file' || !vscode.workspace.isTrusted) return [];
  const uris = await vscode.workspace.findFiles(new vscode.RelativePattern(folder, `**/*.{${Object.keys(LANGUAGES).join(',')}}`), CORPUS_EXCLUDE, max);
  const by = new Map<string, string[]>();
  for (const u of uris) {
    const ext = u.fsPath.slice(u.fsPath.lastIndexOf('.') + 1).toLowerCase();
    if (!LANGUAGES[ext]) continue;
    let files = by.get(ext);
    if (!files) by.set(ext, files = []);
    files.push(u.fsPath);
  }
  return [...by].filter(([, f]) => f.length >= min).sort((a, b) => b[1].length - a[1].length || (a[0] < b[0] ? -1 : 1))
    .map(([ext, f]) => ({ ext, name: LANGUAGES[ext], files: f.sort().slice(0, perLanguage) }));
}

interface DataPick extends vscode.QuickPickItem { value?: DataSource; browse?: boolean }

/**
 * Text for training (allowModel: sampling from the model is offered and is the default when the
 * workspace has no text) or for held-out tasks (files only).
 */
export async function pickData(ctx: Ctx, title: string, key: string, allowModel: boolean): Promise<DataSource | undefined> {
  const files = await workspaceCorpus();
  const items: DataPick[] = [];
  if (files.length) {
    items.push({ label: '$(files) Workspace text', description: `${files.length} file${files.length > 1 ? 's' : ''}`, detail: `${CORPUS_GLOB} in ${vscode.workspace.workspaceFolders![0].name}`, value: files });
  }
  if (allowModel) items.push({ label: '$(sparkle) Sampled from the model', description: 'no data needed', detail: 'a corpus the model writes itself (data-free)', value: 'model' });
  if (vscode.workspace.isTrusted) items.push({ label: '$(folder-opened) Browse…', detail: 'text files, JSONL with "text", WikiText raw', browse: true });
  const last = memory.get<string | undefined>(ctx, key, undefined);
  const at = items.findIndex((i) => (last === 'model' ? i.value === 'model' : last === 'workspace' ? Array.isArray(i.value) : false));
  if (at > 0) items.unshift(...items.splice(at, 1));
  if (!items.length) {
    void vscode.window.showWarningMessage(`IDP: ${title}: there is no text to use — open a trusted folder with text or code files.`);
    return undefined;
  }
  const pick = await dialogs.pick(items, { title, placeHolder: allowModel ? 'Training data' : 'Held-out text', ignoreFocusOut: true });
  if (!pick) return undefined;
  if (pick.browse) {
    const uris = await vscode.window.showOpenDialog({ canSelectFiles: true, canSelectFolders: false, canSelectMany: true, openLabel: 'Use Text', title });
    if (!uris?.length) return undefined;
    return uris.map((u) => u.fsPath);
  }
  await memory.set(ctx, key, pick.value === 'model' ? 'model' : 'workspace');
  return pick.value;
}

/** An integer from an InputBox (remembered), or undefined when dismissed. */
export async function askInt(ctx: Ctx, title: string, prompt: string, key: string, fallback: number, min = 1): Promise<number | undefined> {
  const v = await dialogs.input({
    title, prompt, value: String(memory.get<number>(ctx, key, fallback)), ignoreFocusOut: true,
    validateInput: (s) => (/^\d+$/.test(s.trim()) && Number(s) >= min ? undefined : `a whole number ≥ ${min}`),
  });
  if (v === undefined) return undefined;
  const n = Number(v.trim());
  await memory.set(ctx, key, n);
  return n;
}

/** Plain-object arguments of a command, or an error message naming what it expects. */
export function argObject(arg: unknown, keys: readonly string[], usage: string): { ok: true; value: Record<string, unknown> | undefined } | { ok: false; message: string } {
  if (arg === undefined) return { ok: true, value: undefined };
  if (arg === null || typeof arg !== 'object' || Array.isArray(arg)) return { ok: false, message: `expects ${usage}` };
  const unknown = Object.keys(arg).filter((k) => !keys.includes(k));
  if (unknown.length) return { ok: false, message: `does not take ${unknown.map((k) => `'${k}'`).join(', ')} (it expects ${usage})` };
  return { ok: true, value: arg as Record<string, unknown> };
}

/**
 * A command's inputs: its argument object (automation, tests; unknown keys are reported and refused) or,
 * without one, what `ask` gets from the user. `interactive` says which, so a command reports by message
 * boxes only to a person.
 */
export async function commandInputs<T>(title: string, arg: unknown, keys: readonly string[], usage: string,
  ask: () => Promise<T | undefined>): Promise<{ args: T; interactive: boolean } | undefined> {
  const a = argObject(arg, keys, usage);
  if (!a.ok) {
    void vscode.window.showErrorMessage(`${title} ${a.message}.`);
    return undefined;
  }
  if (a.value) return { args: a.value as T, interactive: false };
  const asked = await ask();
  return asked ? { args: asked, interactive: true } : undefined;
}
