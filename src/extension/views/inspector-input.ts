// What the Inspector inspects: the selection when there is one, else the text around the cursor — the
// lines before it (as much as a completion there would see, up to `maxLines`) through the end of the
// cursor's line. Imports no `vscode`.

export interface InspectorInput { text: string; kind: 'selection' | 'cursor' }

export const AROUND_LINES = 12;
export const MAX_CHARS = 4000;

/**
 * `lines`: the document's lines; selection from (startLine, startChar) to (endLine, endChar); the
 * cursor is the selection's active end (an empty selection).
 */
export function inspectorInput(lines: string[], sel: { startLine: number; startChar: number; endLine: number; endChar: number }, maxLines = AROUND_LINES): InspectorInput {
  const empty = sel.startLine === sel.endLine && sel.startChar === sel.endChar;
  let text: string;
  let kind: InspectorInput['kind'];
  if (!empty) {
    kind = 'selection';
    if (sel.startLine === sel.endLine) text = lines[sel.startLine].slice(sel.startChar, sel.endChar);
    else text = [lines[sel.startLine].slice(sel.startChar), ...lines.slice(sel.startLine + 1, sel.endLine), lines[sel.endLine].slice(0, sel.endChar)].join('\n');
  } else {
    kind = 'cursor';
    const first = Math.max(0, sel.endLine - maxLines + 1);
    text = lines.slice(first, sel.endLine + 1).join('\n');
  }
  // the end is what matters (the engine keeps the last tokens that fit)
  if (text.length > MAX_CHARS) text = text.slice(text.length - MAX_CHARS);
  return { text, kind };
}
