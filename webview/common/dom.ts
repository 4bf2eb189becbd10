// A tiny element builder (no innerHTML: every text goes in as text).

type Attrs = Record<string, string | number | boolean | undefined>;
type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs, ...children: Child[]): HTMLElementTagNameMap[K];
export function h(tag: string, attrs?: Attrs, ...children: Child[]): HTMLElement;
export function h(tag: string, attrs: Attrs = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

/** A single select (vscode-elements) with its options. */
export function select(id: string, label: string, options: Array<{ value: string; label: string }>, value: string): HTMLElement {
  const s = h('vscode-single-select', { id, 'aria-label': label });
  for (const o of options) s.append(h('vscode-option', { value: o.value, selected: o.value === value }, o.label));
  (s as unknown as { value: string }).value = value;
  return s;
}

export const valueOf = (el: Element | null): string => (el as unknown as { value?: string } | null)?.value ?? '';
