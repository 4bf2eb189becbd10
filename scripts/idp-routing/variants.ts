// Three mechanical variants of one kind of text (issue 12's routing experiment): as is, UPPERCASE and
// Title Case. Every variant of a document says the same thing; only the surface differs, so a prompt bank
// can specialise per variant and a selection that reads the input can tell them apart.

export const VARIANTS = ['as-is', 'upper', 'title'] as const;
export type Variant = (typeof VARIANTS)[number];

/** `text` in the variant's surface form. */
export function variant(text: string, v: Variant): string {
  if (v === 'upper') return text.toUpperCase();
  if (v === 'title') return text.replace(/\p{L}[\p{L}']*/gu, (w) => w[0].toUpperCase() + w.slice(1).toLowerCase());
  return text;
}
