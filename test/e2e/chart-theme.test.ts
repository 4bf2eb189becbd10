// Browser end-to-end: the charts of the IDP Inspector and the Benchmarks view follow a colour theme
// switch made while they are shown (Preferences: Color Theme → Dark Modern, or Light Modern from a dark one). Every colour is compared
// with the theme's own CSS variables as the webview sees them, before and after the switch: axis and
// mark text in the editor foreground, the heatmap from the editor background to the charts' blue,
// the Benchmarks marks in the --vscode-charts-* palette.

import { strict as assert } from 'assert';
import * as path from 'path';
import { spawnSync } from 'child_process';
import type { Frame, Page } from 'playwright-core';
import { failureScreenshots, openFile, runCommand, screenshot } from '../vscode/browser';
import { REPO } from '../vscode/code-server';
import { openSession, Session } from './session';
import { waitFor } from '../helpers/wait';
import { contentFrame, focusEditor } from './webview-frames';
import { studyFixture, writeStudy } from '../helpers/study-fixture';

const SAMPLE = 'export function add(a: number, b: number): number {\n  return a + b;\n}\n';

interface ChartColours {
  /** body's theme class (vscode-dark, vscode-light, …) */
  theme: string;
  fg: string;
  bg: string;
  blue: string;
  palette: string[];
  /** fill of every axis label, title and text mark */
  texts: string[];
  /** fill of every heatmap cell (inspector) */
  cells: string[];
  /** the heatmap legend's gradient, first stop to last (the colour scale's range) */
  gradient: string[];
  /** fill / stroke of every data mark other than the heatmap's (scores bars, Benchmarks points, bars, lines) */
  marks: string[];
}

/** The theme's colours (CSS variables) and the colours the charts' SVG uses, all as computed `rgb(…)`. */
function chartColours(frame: Frame): Promise<ChartColours> {
  return frame.evaluate(`(() => {
    const probe = document.createElement('span');
    document.body.append(probe);
    const norm = (c) => { probe.style.color = ''; probe.style.color = c; return getComputedStyle(probe).color; };
    const v = (name) => norm(getComputedStyle(document.body).getPropertyValue(name).trim());
    const all = (sel, attrs) => [...document.querySelectorAll(sel)].flatMap((e) => attrs.map((a) => e.getAttribute(a)))
      .filter((c) => c && c !== 'none' && c !== 'transparent').map(norm);
    const r = {
      theme: ['vscode-dark', 'vscode-light', 'vscode-high-contrast', 'vscode-high-contrast-light'].filter((c) => document.body.classList.contains(c)).join(' '),
      fg: v('--vscode-editor-foreground'), bg: v('--vscode-editor-background'), blue: v('--vscode-charts-blue'),
      palette: ['blue', 'orange', 'green', 'purple', 'red', 'yellow'].map((n) => v('--vscode-charts-' + n)),
      texts: all('.chart svg .role-axis-label text, .chart svg .role-axis-title text, .chart svg .role-title-text text, .chart svg .mark-text.role-mark text', ['fill']),
      cells: all('.heatmap svg .mark-rect.role-mark path', ['fill']),
      gradient: all('.heatmap svg linearGradient stop', ['stop-color']),
      marks: all('.chart:not(.heatmap) svg .role-mark:not(.mark-text) path', ['fill', 'stroke']),
    };
    probe.remove();
    return r;
  })()`) as Promise<ChartColours>;
}

/** Every chart colour is the theme's: text in the foreground, heatmap cells from background to blue, marks from the palette. */
function assertThemed(c: ChartColours, what: string, heatmap: boolean): void {
  assert.ok(c.texts.length > 5, `${what}: chart text drawn (${c.texts.length})`);
  assert.deepEqual([...new Set(c.texts)], [c.fg], `${what}: chart text in the editor foreground ${c.fg}`);
  assert.ok(c.marks.length > 0, `${what}: marks drawn`);
  const off = c.marks.filter((m) => !c.palette.includes(m));
  assert.deepEqual([...new Set(off)], [], `${what}: marks in the charts palette ${c.palette.join(' ')}`);
  if (heatmap) {
    assert.ok(c.cells.length > 50, `${what}: heatmap cells (${c.cells.length})`);
    // the colour scale runs from the editor background (no attention) to the charts blue (the most)
    assert.equal(c.gradient[0], c.bg, `${what}: the scale starts at the editor background (${c.gradient.join(' ')})`);
    assert.equal(c.gradient[c.gradient.length - 1], c.blue, `${what}: the scale ends at the charts blue`);
    assert.ok(c.cells.includes(c.blue), `${what}: the most attended cell in the charts blue ${c.blue}`);
  }
}

async function waitForColours(page: Page, frame: Frame, ok: (c: ChartColours) => boolean, what: string): Promise<ChartColours> {
  let last: ChartColours | undefined;
  try {
    return await waitFor(`${what}`, async () => {
      last = await chartColours(frame);
      return ok(last) ? last : undefined;
    }, 30000, 250);
  } catch (e) {
    throw new Error(`${(e as Error).message}: last seen ${JSON.stringify({ ...last, cells: [...new Set(last?.cells)], texts: [...new Set(last?.texts)] })}`);
  }
}

describe('browser: charts follow the colour theme', function () {
  this.timeout(240000);
  let s: Session;

  before(async function () {
    s = await openSession(this, { 'sample.ts': SAMPLE });
    // the lab: a tiny prompt bank for the default model (the Inspector's only bank) and a study
    const lab = path.join(s.workspace, '.idp');
    const r = spawnSync(process.execPath, [path.join(REPO, 'dist', 'cli.js'), 'bank', 'train', '--data', 'model', '--prompts', '4,8', '--tokens', '256',
      '--seqlen', '32', '--batch', '4', '--sample-tokens', '2048', '--out', path.join(lab, 'runs', 'bank-theme', 'bank')], { encoding: 'utf8', timeout: 120000 });
    assert.equal(r.status, 0, r.stderr);
    writeStudy(path.join(lab, 'runs', '2026-02-01-study'), studyFixture({ created: '2026-02-01T00:00:00.000Z' }));
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && s) await failureScreenshots(s.page, this.currentTest.title);
  });
  after(() => s?.close());

  it('Preferences: Color Theme (light ↔ dark) redraws the Inspector and Benchmarks charts in the new theme\'s colours', async () => {
    const { page } = s;
    await page.locator('.statusbar-item', { hasText: /no model|default/ }).first().waitFor({ timeout: 60000 });
    await openFile(page, 'sample.ts');
    // both webviews shown at once: Benchmarks in the side bar, the Inspector (an editor) on the lines at the cursor
    await runCommand(page, 'IDP: Show Benchmarks');
    const benchmarks = await contentFrame(page, 'benchmarks');
    for (const id of ['fig4', 'fig7', 'fig5']) await benchmarks.locator(`#${id} svg .role-mark path`).first().waitFor({ timeout: 30000 });
    await focusEditor(page);
    await runCommand(page, 'IDP: Open IDP Inspector');
    const inspector = await contentFrame(page, 'inspector');
    await inspector.locator('.heatmap svg .mark-rect path').first().waitFor({ timeout: 60000 });
    await inspector.locator('#scores svg .role-mark path').first().waitFor({ timeout: 30000 });

    const first = { inspector: await chartColours(inspector), benchmarks: await chartColours(benchmarks) };
    const was = first.inspector.theme;
    assert.ok(was === 'vscode-light' || was === 'vscode-dark', `a light or dark theme to start with: ${was}`);
    assertThemed(first.inspector, `Inspector (${was})`, true);
    assertThemed(first.benchmarks, `Benchmarks (${was})`, false);
    await screenshot(page, `theme-charts-${was}`);
    const [pick, want] = was === 'vscode-light' ? ['Dark Modern', 'vscode-dark'] : ['Light Modern', 'vscode-light'];

    // the theme a person picks from the palette
    // (the palette ranks "Preferences: Browse Color Themes in Marketplace" first: click the exact entry)
    const quick = page.locator('.quick-input-widget input.input');
    await page.keyboard.press('F1');
    await quick.fill('>Preferences: Color Theme');
    await page.locator('.quick-input-list .monaco-list-row', { hasText: /^\s*Preferences: Color Theme/ }).first().click();
    await page.locator('.quick-input-widget .quick-input-title, .quick-input-widget input.input[placeholder*="Theme" i]').first().waitFor({ timeout: 10000 }).catch(() => undefined);
    await page.waitForFunction(`!document.querySelector('.quick-input-widget input.input')?.value.startsWith('>')`);
    await quick.fill(pick);
    await page.locator('.quick-input-list .monaco-list-row', { hasText: pick }).first().waitFor();
    await page.keyboard.press('Enter');
    await page.locator('.quick-input-widget').waitFor({ state: 'hidden' });

    // poll: the webview gets the new theme, then its charts are drawn again
    const redrawn = (c: ChartColours) => c.theme === want && c.texts.length > 0 && c.texts.every((t) => t === c.fg);
    const then = {
      inspector: await waitForColours(page, inspector, redrawn, `Inspector charts in ${want}`),
      benchmarks: await waitForColours(page, benchmarks, redrawn, `Benchmarks charts in ${want}`),
    };
    // the theme really changed the colours the charts must use
    assert.notEqual(then.inspector.fg, first.inspector.fg);
    assert.notEqual(then.inspector.bg, first.inspector.bg);
    assert.notEqual(then.inspector.blue, first.inspector.blue);
    assertThemed(then.inspector, `Inspector (${want})`, true);
    assertThemed(then.benchmarks, `Benchmarks (${want})`, false);
    assert.ok(!then.inspector.cells.includes(first.inspector.blue), 'no heatmap cell keeps the old theme\'s blue');
    assert.ok(!then.benchmarks.marks.includes(first.benchmarks.palette[0]), 'no Benchmarks mark keeps the old theme\'s blue');
    await screenshot(page, `theme-charts-${want}`);
  });
});
