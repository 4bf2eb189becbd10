// JSON Lines (one JSON value per line; C4's and the task exports' layout), read with typed errors that
// name the file and the line.

import { formatError } from '../errors';

/** Whether a file name says JSON Lines (.jsonl, .jsonl.gz). */
export const isJsonl = (file: string) => /\.jsonl(\.gz)?$/i.test(file);

/** Every non-blank line of `text` parsed, with its 1-based line number; a line that is not JSON is a FORMAT error. */
export function jsonLines(file: string, text: string): Array<{ line: number; value: unknown }> {
  const out: Array<{ line: number; value: unknown }> = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line) continue;
    try {
      out.push({ line: i + 1, value: JSON.parse(line) });
    } catch (e) {
      throw formatError(file, `line ${i + 1} is not JSON (${(e as Error).message})`);
    }
  }
  return out;
}
