// Reading task files: JSON (an array, or an object holding one under "Data"/"data", as the original
// TriviaQA / SciQ / WebQuestions releases), JSON lines (HF `to_json` exports, llm-foundry), plain text
// lines; any of them gzip-compressed (.gz). Every problem is a FORMAT error naming the file and item.

import { formatError } from '../../errors';
import { readTextFile } from '../../formats/files';
import { isJsonl, jsonLines } from '../../formats/json-lines';

export function readTaskText(file: string): string {
  const text = readTextFile(file, 'not a task file');
  if (!text.trim()) throw formatError(file, 'is empty: no task items');
  return text;
}

/** One JSON item with where it came from (for messages). */
export class Item {
  constructor(readonly value: Record<string, unknown>, readonly file: string, readonly where: string) {}

  fail(problem: string): never {
    throw formatError(this.file, `${this.where}: ${problem}`);
  }

  has(name: string): boolean {
    return this.value[name] !== undefined && this.value[name] !== null;
  }

  str(name: string): string {
    const v = this.value[name];
    if (typeof v !== 'string') this.fail(v === undefined ? `missing field "${name}"` : `field "${name}" is not a string`);
    return v;
  }

  strs(name: string, minLength = 1): string[] {
    const v = this.value[name];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) this.fail(v === undefined ? `missing field "${name}"` : `field "${name}" is not a list of strings`);
    if (v.length < minLength) this.fail(`field "${name}" has ${v.length} entries (need at least ${minLength})`);
    return v as string[];
  }

  int(name: string): number {
    const v = this.value[name];
    const n = typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n)) this.fail(v === undefined ? `missing field "${name}"` : `field "${name}" is not an integer`);
    return n;
  }

  obj(name: string): Item {
    const v = this.value[name];
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(v === undefined ? `missing field "${name}"` : `field "${name}" is not an object`);
    return new Item(v as Record<string, unknown>, this.file, `${this.where}.${name}`);
  }

  /** A gold index that must address one of n choices. */
  index(value: number, n: number, what = 'gold'): number {
    if (!(Number.isInteger(value) && value >= 0 && value < n)) this.fail(`${what} ${value} is not one of the ${n} choices`);
    return value;
  }
}

/** Items of a JSON or JSONL file. */
export function readItems(file: string): Item[] {
  const text = readTaskText(file);
  const items: Item[] = [];
  const asObject = (v: unknown, where: string): Item => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw formatError(file, `${where}: not a JSON object`);
    return new Item(v as Record<string, unknown>, file, where);
  };
  const parseLines = () => {
    for (const { line, value } of jsonLines(file, text)) items.push(asObject(value, `line ${line}`));
  };
  if (isJsonl(file)) parseLines();
  else {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      // JSON lines under a .json name
      if (/^\s*\{/.test(text)) parseLines();
      else throw formatError(file, `not valid JSON (${(e as Error).message})`);
    }
    if (v !== undefined) {
      const holder = v as Record<string, unknown>;
      const list = Array.isArray(v) ? v : Array.isArray(holder?.Data) ? holder.Data : Array.isArray(holder?.data) ? holder.data : undefined;
      if (list) list.forEach((x, i) => items.push(asObject(x, `item ${i}`)));
      else items.push(asObject(v, 'line 1'));   // one JSON line under a .json name
    }
  }
  if (!items.length) throw formatError(file, 'holds no task items');
  return items;
}

/** Non-empty-file lines (for label files and line-oriented task text). */
export function readLines(file: string): string[] {
  const lines = readTaskText(file).split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => l.replace(/\r$/, ''));
}
