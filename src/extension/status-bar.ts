// The status bar item: model, execution provider, and (with inline completion) the last latency,
// tokens/s and the prompt IDP picked. Click: Select Model.

import * as vscode from 'vscode';
import type { ModelInfo } from '../protocol/engine-rpc';
import { modelLabel } from './paths';
import { choiceLabel } from '../engine/runtime/gpu/provider-setting';

export interface CompletionStats { latencyMs: number; tokensPerSecond: number; prompt?: string }

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('idp.status', vscode.StatusBarAlignment.Right, 100);
  private model: ModelInfo | null = null;
  private stats?: CompletionStats;
  private engineDown = false;
  private completionOn = false;
  private bank?: { prompts: number[]; picked?: number };

  constructor() {
    this.item.name = 'IDP Lab';
    this.item.command = 'idp.selectModel';
    this.render();
    this.item.show();
  }

  setModel(m: ModelInfo | null): void {
    this.model = m;
    this.engineDown = false;
    this.render();
  }

  setEngineDown(): void {
    this.engineDown = true;
    this.model = null;
    this.render();
  }

  /** The active IDP bank (its prompt lengths) and the prompt it picked last, or none. */
  setBank(b: { prompts: number[]; picked?: number } | undefined): void {
    this.bank = b ? { prompts: [...b.prompts], picked: b.picked } : undefined;
    this.render();
  }

  setCompletion(on: boolean, stats?: CompletionStats): void {
    this.completionOn = on;
    if (stats) this.stats = stats;
    this.render();
  }

  /** The item's text (for tests). */
  get text(): string {
    return this.item.text;
  }

  private render(): void {
    const m = this.model;
    const name = m ? modelLabel(m.path).label : 'no model';
    const parts = [`$(${this.engineDown ? 'warning' : this.completionOn ? 'sparkle' : 'circuit-board'}) ${name}`];
    if (m) parts.push(choiceLabel({ setting: m.epSetting ?? m.ep, ep: m.ep }));
    if (this.completionOn && this.stats) {
      parts.push(`${Math.round(this.stats.latencyMs)} ms`, `${Math.round(this.stats.tokensPerSecond)} tok/s`);
      if (this.stats.prompt) parts.push(`prompt ${this.stats.prompt}`);
    }
    if (this.bank) {
      // the prompt IDP picked last (by its length), else the bank
      const picked = this.stats?.prompt ?? (this.bank.picked !== undefined ? String(this.bank.picked) : undefined);
      if (picked && !(this.completionOn && this.stats?.prompt)) parts.push(`IDP prompt ${picked}`);
      else if (!picked) parts.push(`IDP ${this.bank.prompts.join('+')}`);
    }
    this.item.text = parts.join(' · ');
    const md = new vscode.MarkdownString(undefined, true);
    md.appendMarkdown('**IDP Lab**\n\n');
    if (this.engineDown) md.appendMarkdown('The engine process stopped; it is being restarted.\n\n');
    if (m) md.appendMarkdown(`Model: \`${m.path}\`\n\n${m.architecture}, ${m.parameters.toLocaleString('en-US')} parameters, ${m.layers} layers, context ${m.contextLength}\n\n`);
    if (m) md.appendMarkdown(`Execution provider: ${m.ep}${m.epSetting === 'auto' ? ', chosen by auto' : ''}\n\n${(m.epPassed ?? []).map((p) => `- not ${p.ep}: ${p.reason}`).join('\n')}${m.epPassed?.length ? '\n\n' : ''}`);
    if (this.bank) md.appendMarkdown(`IDP bank: prompts of ${this.bank.prompts.join(', ')} tokens${this.bank.picked !== undefined ? `; last pick: the ${this.bank.picked}-token prompt` : ''}\n\n`);
    md.appendMarkdown(`Inline completion: ${this.completionOn ? 'on' : 'off'}\n\n`);
    if (this.stats) md.appendMarkdown(`Last completion: ${Math.round(this.stats.latencyMs)} ms, ${this.stats.tokensPerSecond.toFixed(0)} tok/s${this.stats.prompt ? `, IDP prompt ${this.stats.prompt}` : ''}\n\n`);
    md.appendMarkdown('Click to select a model.');
    this.item.tooltip = md;
  }

  dispose(): void {
    this.item.dispose();
  }
}
