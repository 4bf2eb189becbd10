// Python string semantics the task definitions rely on (lm-eval's prompts and metrics are Python):
// str.strip/lstrip/rstrip with no argument strip Python's whitespace set (not JS's \s: Python counts
// \x1c–\x1f, JS counts \uFEFF); len() counts code points, not UTF-16 units; sorted() compares code
// points; str.capitalize() upper-cases the first character and lower-cases the rest.

/** Characters for which Python's str.isspace() is true. */
const PY_WS = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const LEAD = new RegExp(`^[${PY_WS}]+`);
const TRAIL = new RegExp(`[${PY_WS}]+$`);

export const pyLstrip = (s: string): string => s.replace(LEAD, '');
export const pyRstrip = (s: string): string => s.replace(TRAIL, '');
export const pyStrip = (s: string): string => pyRstrip(pyLstrip(s));

/** len(s) in Python: code points. */
export function pyLen(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** UTF-8 byte length (len(s.encode("utf-8"))). */
export const utf8Len = (s: string): number => Buffer.byteLength(s, 'utf8');

/** Python's string ordering (by code point; JS's < compares UTF-16 units, which differs above U+FFFF). */
export function pyCompare(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return x.done && y.done ? 0 : x.done ? -1 : 1;
    const cx = x.value.codePointAt(0)!;
    const cy = y.value.codePointAt(0)!;
    if (cx !== cy) return cx < cy ? -1 : 1;
  }
}

/** str.capitalize(): first character upper-cased, the rest lower-cased. */
export function pyCapitalize(s: string): string {
  const first = s.codePointAt(0);
  if (first === undefined) return s;
  const head = String.fromCodePoint(first);
  return head.toUpperCase() + s.slice(head.length).toLowerCase();
}

/** Python's string.punctuation. */
export const PY_PUNCTUATION = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';

/** len(re.split(r"\s+", s)): lm-eval's word count for word_perplexity. */
export function pyWordCount(s: string): number {
  return s.split(new RegExp(`[${PY_WS}]+`)).length;
}
