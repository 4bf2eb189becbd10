// Inline completion in the real extension host: trigger + commit inserts what the model wrote at
// the cursor; the per-language setting turns it off; the status bar reports latency and tokens/s.

import { strict as assert } from 'assert';
import * as path from 'path';
import * as vscode from 'vscode';
import { api, resetSettings, stories, waitFor } from './helpers';
import { suggested, triggerAndCommit } from './inline';
import { applyStopRules } from '../../../src/extension/completion/policy';

const cfg = () => vscode.workspace.getConfiguration('idp.inlineCompletion');

async function openAtEndOfFirstLine(file: string): Promise<vscode.TextEditor> {
  const doc = await vscode.workspace.openTextDocument(file);
  const ed = await vscode.window.showTextDocument(doc);
  const end = doc.lineAt(0).range.end;
  ed.selection = new vscode.Selection(end, end);
  return ed;
}

describe('extension host: inline completion', function () {
  this.timeout(120000);
  const ws = () => process.env.IDP_TEST_WORKSPACE!;

  before(async () => {
    await vscode.commands.executeCommand('idp.selectModel', stories());
  });
  after(async () => {
    await cfg().update('enable', undefined, vscode.ConfigurationTarget.Global);
    await cfg().update('languages', undefined, vscode.ConfigurationTarget.Global);
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
    await resetSettings();
  });

  it('Toggle Inline Completion turns it on (and shows it in the status bar)', async () => {
    const a = await api();
    await cfg().update('enable', false, vscode.ConfigurationTarget.Global);
    assert.equal(await vscode.commands.executeCommand('idp.toggleInlineCompletion'), true);
    assert.equal(cfg().get('enable'), true);
    await waitFor('status bar', () => a.status.text.includes('$(sparkle)'));
  });

  it('trigger + commit inserts the model text for the context at the cursor', async () => {
    const a = await api();
    const ed = await openAtEndOfFirstLine(path.join(ws(), 'story.txt'));
    const before = ed.document.getText();
    const offset = ed.document.offsetAt(ed.selection.active);
    const prefix = before.slice(0, offset);
    const suffix = before.slice(offset);
    // what the engine writes for this context, cut by the same stop rules
    const reply = await a.engine.generate({ fim: { prefix, suffix }, maxTokens: cfg().get<number>('maxTokens', 32), temperature: 0 });
    const expected = applyStopRules(reply.text, { singleLine: false, maxLines: cfg().get<number>('maxLines', 4), indent: '', lineSuffix: '' });
    assert.ok(expected.length > 0, 'the model has something to say here');
    const requests = a.completer.stats.requests;
    const after = await triggerAndCommit(ed, before);
    assert.equal(after, prefix + expected + suffix);
    assert.ok(a.completer.stats.requests > requests, 'the engine was asked');
    await waitFor('latency in the status bar', () => /\d+ ms · \d+ tok\/s/.test(a.status.text));
  });

  it('the per-language setting turns it off for one language', async () => {
    const a = await api();
    await cfg().update('languages', { '*': true, plaintext: false }, vscode.ConfigurationTarget.Global);
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
    const ed = await openAtEndOfFirstLine(path.join(ws(), 'story.txt'));
    const before = ed.document.getText();
    const requests = a.completer.stats.requests + a.completer.stats.cacheHits;
    await suggested(true); // the provider declines: off for plaintext
    await vscode.commands.executeCommand('editor.action.inlineSuggest.commit');
    assert.equal(ed.document.getText(), before);
    assert.equal(a.completer.stats.requests + a.completer.stats.cacheHits, requests, 'not even asked');
    // markdown is still on
    const md = await openAtEndOfFirstLine(path.join(ws(), 'notes.md'));
    const mdBefore = md.document.getText();
    assert.notEqual(await triggerAndCommit(md, mdBefore), mdBefore);
  });
});
