// Vega-Lite charts drawn in a webview under a strict CSP: vega-embed with Vega's expression
// interpreter (`ast: true`, no `new Function`), no action menu and none of vega-embed's injected
// styles (the page's stylesheet styles the tooltip). Colours come from the VS Code theme's CSS
// variables, read when a chart is drawn; charts are drawn again when the theme changes (a chart whose
// spec holds colours itself is given as a function building it, called again for the new theme).

import embed, { Result } from 'vega-embed';
import { expressionInterpreter } from 'vega-interpreter';
import type { TopLevelSpec } from 'vega-lite';

export type Spec = TopLevelSpec;

const css = (name: string, fallback: string) => getComputedStyle(document.body).getPropertyValue(name).trim() || fallback;

/** The theme's colours for charts (VS Code's --vscode-charts-* palette). */
export function themeColors() {
  return {
    fg: css('--vscode-editor-foreground', '#cccccc'),
    muted: css('--vscode-descriptionForeground', '#999999'),
    bg: css('--vscode-editor-background', '#1e1e1e'),
    lines: css('--vscode-charts-lines', '#80808080'),
    accent: css('--vscode-charts-blue', '#3794ff'),
    font: css('--vscode-font-family', 'sans-serif'),
    palette: ['--vscode-charts-blue', '--vscode-charts-orange', '--vscode-charts-green', '--vscode-charts-purple', '--vscode-charts-red', '--vscode-charts-yellow']
      .map((v, i) => css(v, ['#3794ff', '#d18616', '#89d185', '#b180d7', '#f14c4c', '#cca700'][i])),
  };
}

function config() {
  const c = themeColors();
  const axis = { labelColor: c.fg, titleColor: c.fg, domainColor: c.lines, tickColor: c.lines, gridColor: c.lines, labelFont: c.font, titleFont: c.font };
  return {
    background: 'transparent',
    font: c.font,
    view: { stroke: 'transparent' },
    axis,
    legend: { labelColor: c.fg, titleColor: c.fg, labelFont: c.font, titleFont: c.font },
    title: { color: c.fg, font: c.font, subtitleColor: c.muted },
    // facet headers (Figure 5's "attention maps" / "hidden states"): Vega's default is black
    header: { labelColor: c.fg, titleColor: c.fg, labelFont: c.font, titleFont: c.font },
    range: { category: c.palette },
    mark: { color: c.accent },
    text: { color: c.fg },
  };
}

/** A spec, or a function that builds it from the current theme colours (themeColors()). */
export type SpecSource = Spec | (() => Spec);

const drawn = new Map<HTMLElement, { source: SpecSource; result?: Result }>();

/** Draws `source` into `el` (replacing what was there). `label` is what a screen reader hears. */
export async function draw(el: HTMLElement, source: SpecSource, label: string): Promise<void> {
  // charts whose element is gone (the page was drawn again) release their views
  for (const [other, d] of drawn) if (other === el || !other.isConnected) { d.result?.finalize(); drawn.delete(other); }
  drawn.set(el, { source });
  const spec = typeof source === 'function' ? source() : source;
  const result = await embed(el, { ...spec, config: { ...config(), ...(spec as { config?: object }).config } } as Spec, {
    ast: true,
    expr: expressionInterpreter,
    actions: false,
    defaultStyle: false,
    renderer: 'svg',
    tooltip: { disableDefaultStyle: true, theme: 'custom' },
  });
  drawn.set(el, { source, result });
  // after drawing: vega sets the container's own attributes
  el.setAttribute('role', 'img');
  el.setAttribute('aria-label', label);
}

/** Draws every chart again with the current theme (VS Code changes body's class on a theme switch). */
export function redrawOnThemeChange(): void {
  new MutationObserver(() => {
    // over a copy: draw() deletes and re-adds its element, which a live Map iteration would visit again, forever
    for (const [el, d] of [...drawn]) {
      if (el.isConnected) void draw(el, d.source, el.getAttribute('aria-label') ?? '');
      else drawn.delete(el);
    }
  }).observe(document.body, { attributes: true, attributeFilter: ['class'] });
}
