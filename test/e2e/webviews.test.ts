// Browser end-to-end: the IDP Inspector and the Benchmarks view as a person sees them in a real VS Code
// (code-server + Chromium). The lab folder (.idp/ in the workspace) holds a tiny prompt bank trained by
// the CLI on the embedded default model and two study reports (fixtures typed by the study schema).
// The webviews' content is read inside their frames; keyboard operation is checked on the controls.

import { strict as assert } from 'assert';
import * as path from 'path';
import { spawnSync } from 'child_process';
import type { Page } from 'playwright-core';
import { failureScreenshots, openFile, runCommand, screenshot } from '../vscode/browser';
import { REPO } from '../vscode/code-server';
import { openSession, Session } from './session';
import { contentFrame, focusEditor, webviewFrame } from './webview-frames';
import { studyFixture, writeStudy } from '../helpers/study-fixture';

const SAMPLE = [
  'export function add(a: number, b: number): number {',
  '  return a + b;',
  '}',
  '',
  'export function greet(name: string) {',
  '  const message = `hello ${name}`;',
  '  return message;',
  '}',
  '',
].join('\n');

/** Drags the side bar's edge to the right, so a wide table fits (as a person would). */
async function widenSideBar(page: Page): Promise<void> {
  const bar = await page.locator('.part.sidebar').boundingBox();
  if (!bar) return;
  const x = bar.x + bar.width;
  await page.mouse.move(x + 1, bar.y + bar.height / 2);
  await page.mouse.down();
  await page.mouse.move(x + 600, bar.y + bar.height / 2, { steps: 8 });
  await page.mouse.up();
}

describe('browser: IDP Inspector and Benchmarks webviews', function () {
  this.timeout(240000);
  let s: Session;

  before(async function () {
    s = await openSession(this, { 'sample.ts': SAMPLE });
    // the lab folder: a prompt bank for the default model, and two studies to compare
    const lab = path.join(s.workspace, '.idp');
    const idp = (...args: string[]) => {
      const r = spawnSync(process.execPath, [path.join(REPO, 'dist', 'cli.js'), ...args], { encoding: 'utf8', timeout: 120000 });
      assert.equal(r.status, 0, r.stderr);
    };
    // the default model compressed (RTN 4-bit), and a bank trained on it
    const compressed = path.join(lab, 'runs', 'rtn-e2e', 'model');
    idp('compress', '--method', 'rtn', '--bits', '4', '--group-size', '64', '--out', compressed);
    idp('bank', 'train', '--model', compressed, '--data', 'model', '--prompts', '4,8', '--tokens', '256', '--seqlen', '32', '--batch', '4',
      '--sample-tokens', '2048', '--out', path.join(lab, 'runs', 'bank-e2e', 'bank'));
    writeStudy(path.join(lab, 'runs', '2026-02-01-study'), studyFixture({ created: '2026-02-01T00:00:00.000Z', label: 'default (newer)' }));
    writeStudy(path.join(lab, 'runs', '2026-01-01-study'), studyFixture({ created: '2026-01-01T00:00:00.000Z', shift: -1.5 }));
    // another compression setting of the same protocol: Figure 1 gets two bars
    writeStudy(path.join(lab, 'runs', '2025-12-01-study'), studyFixture({ created: '2025-12-01T00:00:00.000Z', shift: -4, compression: { spec: 'gptq:3', description: 'GPTQ 3-bit, group 128' } }));
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && s) await failureScreenshots(s.page, this.currentTest.title);
  });
  after(() => s?.close());

  it('IDP: Open IDP Inspector shows the prompt IDP selected for the selection, its scores and an attention heatmap', async () => {
    const { page } = s;
    await page.locator('.statusbar-item', { hasText: /no model|default/ }).first().waitFor({ timeout: 60000 });
    const editor = await openFile(page, 'sample.ts');
    await editor.locator('.view-lines').click();
    // select the first function (lines 1-3)
    await page.keyboard.press('Control+Home');
    for (let i = 0; i < 3; i++) await page.keyboard.press('Shift+ArrowDown');
    // the palette straight away (runCommand's Escape would clear the selection)
    await page.keyboard.press('F1');
    const palette = page.locator('.quick-input-widget input.input');
    await palette.fill('>IDP: Open IDP Inspector');
    await page.locator('.quick-input-list .monaco-list-row', { hasText: 'IDP: Open IDP Inspector' }).first().waitFor();
    await page.keyboard.press('Enter');
    const f = await webviewFrame(page, /Selected prompt/);
    const selected = f.locator('#selected');
    await selected.waitFor({ timeout: 60000 });
    assert.match(await selected.innerText(), /^Selected prompt: P[01] \((4|8) tokens/);
    assert.match(await f.locator('main').innerText(), /selection in sample\.ts/);
    // the scores chart and the heatmap are drawn (SVG with marks), and the heatmap has token labels
    await f.locator('#scores svg .mark-rect path, #scores svg .mark-rect').first().waitFor({ timeout: 30000 });
    const heat = f.locator('.heatmap svg').first();
    await heat.waitFor({ timeout: 30000 });
    const cells = await f.locator('.heatmap svg .mark-rect path').count();
    assert.ok(cells > 50, `heatmap cells: ${cells}`);
    const labels = await heat.locator('.role-axis-label text').allTextContents();
    assert.ok(labels.some((l) => /P0:0/.test(l)), `prompt slot labels in ${labels.slice(0, 10)}`);
    assert.ok(labels.some((l) => /add/.test(l)), 'token labels');
    assert.equal(await f.locator('[role="img"]').count() >= 2, true, 'charts are labelled images');
    await screenshot(page, 'inspector-selected-prompt-heatmap');

    // keyboard: the head picker is reachable and changes the heatmap to one head
    const head = f.locator('#head');
    await head.focus();
    await page.keyboard.press('Enter');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    await f.locator('.heatmap svg .role-title-subtitle, .heatmap svg .role-title', { hasText: /head 0/ }).first().waitFor({ timeout: 20000 });
    await screenshot(page, 'inspector-head-0');
  });

  it('the Inspector compares with the uncompressed model: its selection and its heatmap beside this one', async () => {
    const { page } = s;
    const f = await webviewFrame(page, /Selected prompt/);
    assert.match(await f.locator('main').innerText(), /rtn-e2e/, 'the bank runs on the model it was trained on');
    // keyboard: Space on the focused checkbox
    await f.locator('#compare').focus();
    await page.keyboard.press('Space');
    const other = f.locator('#selected-uncompressed');
    await other.waitFor({ timeout: 60000 });
    assert.match(await other.innerText(), /^Uncompressed model \(.*models\/default\) selects P[01]/);
    await f.locator('.heatmap svg').nth(1).waitFor({ timeout: 30000 });
    assert.equal(await f.locator('.heatmap svg').count(), 2, 'two heatmaps side by side');
    await screenshot(page, 'inspector-compare-uncompressed');
    await f.locator('.side-by-side figure').nth(1).scrollIntoViewIfNeeded();
    await screenshot(page, 'inspector-compare-heatmaps');
    await f.locator('#compare').click(); // off again
    await other.waitFor({ state: 'detached', timeout: 30000 });
  });

  it('malformed messages from a webview are rejected and logged; the panel keeps working', async () => {
    const { page } = s;
    const frame = await contentFrame(page, 'inspector');
    // through the same channel the webview's acquireVsCodeApi().postMessage uses
    // (the webview host page's relay, which the content frame's API calls)
    const host = frame.parentFrame();
    assert.ok(host, 'the webview host frame');
    const sent = await host!.evaluate(`(() => {
      const send = window.__vscode_post_message__;
      if (typeof send !== 'function') return 'no relay';
      for (const message of [{ type: 'setCompare', on: 'yes' }, { type: 'runCommand', command: 'workbench.action.quit' }, 'garbage', null]) send('onmessage', { message });
      return 'sent';
    })()`);
    assert.equal(sent, 'sent');
    await runCommand(page, 'IDP: Show Log');
    await page.locator('.part.panel .monaco-editor .view-lines').filter({ hasText: /rejected\sa\smessage\sfrom\sthe\swebview:\sinspector\smessage\.type:\sunknown\smessage\stype\s"runCommand"/ })
      .waitFor({ timeout: 20000 });
    await screenshot(page, 'inspector-malformed-messages-logged');
    const f = await webviewFrame(page, /Selected prompt/);
    assert.match(await f.locator('#selected').innerText(), /^Selected prompt: P[01]/, 'the panel still shows its report');
    await runCommand(page, 'View: Hide Panel');
  });

  it('IDP: Show Benchmarks shows the runs, Table 1 and the charts; a second run is compared', async () => {
    const { page } = s;
    await focusEditor(page);
    await runCommand(page, 'IDP: Show Benchmarks');
    const f = await webviewFrame(page, /Table 1/);
    const table = f.locator('table#results');
    await table.waitFor({ timeout: 30000 });
    const head = await table.locator('thead th').allInnerTexts();
    assert.deepEqual(head.slice(0, 3), ['Method', 'arcE', 'arcC']);
    assert.ok(head.includes('Average') && head.includes('World') && head.includes('Params'));
    const rows = await table.locator('tbody tr').allInnerTexts();
    assert.equal(rows.length, 5);
    assert.match(rows[3], /IDP \(4, 8\)[\s\S]*±/);
    for (const id of ['fig4', 'fig7', 'fig6', 'fig5', 'fig1']) await f.locator(`#${id} svg .mark-symbol, #${id} svg .mark-rect, #${id} svg .mark-line`).first().waitFor({ timeout: 30000 });
    // Fig. 6: the IDP bank at its average prompt size (4 + 8 → 6) and the single prompt at 8; Fig. 1: one bar per setting
    assert.equal(await f.locator('#fig6 svg .mark-symbol.role-mark path').count(), 2);
    assert.equal(await f.locator('#fig1 svg .mark-rect.role-mark path').count(), 2);
    assert.match(await f.locator('#fig1').locator('xpath=..').locator('figcaption').innerText(), /Figure 1: .* \(2 studies in the lab folder\)/);
    await f.locator('#fig1 svg').first().scrollIntoViewIfNeeded();
    await screenshot(page, 'benchmarks-fig1-fig6');
    assert.match(await f.locator('main').innerText(), /default \(newer\)/, 'the newest run is shown first');
    await widenSideBar(page);
    await f.locator('#fig5 svg').first().scrollIntoViewIfNeeded();
    await screenshot(page, 'benchmarks-charts');
    await table.scrollIntoViewIfNeeded();
    await screenshot(page, 'benchmarks-table-charts');
    // compare with the older run: the differences table appears (+1.5 points everywhere)
    // by keyboard: focus the picker, open it, the next entry, accept
    await f.locator('#compare').focus();
    await page.keyboard.press('Enter');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    const delta = f.locator('table#delta');
    await delta.waitFor({ timeout: 20000 });
    assert.match(await delta.locator('tbody tr').first().innerText(), /\+1\.50/);
    await screenshot(page, 'benchmarks-compare');
    // export: the table opens as a Markdown document
    await f.locator('#export-md').click();
    await page.locator('.editor-instance .monaco-editor .view-lines', { hasText: /\|\s---\s\|/ }).first().waitFor({ timeout: 20000 });
    await screenshot(page, 'benchmarks-export-markdown');
  });
});
