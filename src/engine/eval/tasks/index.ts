// The nine tasks of the paper (lm-eval names) and where their files are found.
//
// A data folder is either the staged data root (holding tasks/) or a tasks folder itself; each task
// has a sub-folder and a list of file names tried in order (original exports first where lm-eval's
// exact data is possible, then the staged conversions). `--tasks name=PATH` points a task at a file
// or folder of its own.

import * as fs from 'fs';
import * as path from 'path';
import { inputError, notFound } from '../../errors';
import type { Task } from './types';
import { loadArc } from './arc';
import { loadSciq } from './sciq';
import { loadWebqs } from './webqs';
import { loadTriviaqa } from './triviaqa';
import { loadPiqa } from './piqa';
import { loadHellaswag } from './hellaswag';
import { loadLambada } from './lambada';
import { loadWinogrande } from './winogrande';

export const PAPER_TASKS = ['arc_easy', 'arc_challenge', 'sciq', 'webqs', 'triviaqa', 'piqa', 'hellaswag', 'lambada_openai', 'winogrande'] as const;
export type PaperTask = (typeof PAPER_TASKS)[number];

interface Spec { folders: string[]; files: string[]; load: (file: string) => Task }

const SPECS: Record<PaperTask, Spec> = {
  arc_easy: { folders: ['arc_easy'], files: ['ARC-Easy-Test.jsonl', 'test.jsonl', 'arc_easy.jsonl'], load: (f) => loadArc('arc_easy', f) },
  arc_challenge: { folders: ['arc_challenge'], files: ['ARC-Challenge-Test.jsonl', 'test.jsonl', 'arc_challenge.jsonl'], load: (f) => loadArc('arc_challenge', f) },
  sciq: { folders: ['sciq'], files: ['test.json', 'test.jsonl', 'sciq_test.jsonl'], load: loadSciq },
  webqs: { folders: ['webqs', 'web_questions'], files: ['test.json', 'test.jsonl'], load: loadWebqs },
  triviaqa: { folders: ['triviaqa'], files: ['validation.jsonl', 'triviaqa_sm_sub.jsonl'], load: loadTriviaqa },
  piqa: { folders: ['piqa'], files: ['validation.jsonl', 'valid.jsonl'], load: (f) => loadPiqa(f) },
  hellaswag: {
    folders: ['hellaswag'],
    files: ['hellaswag_val.jsonl', 'validation.jsonl', 'hellaswag_val_full.txt.gz', 'hellaswag_val_full.txt'],
    load: loadHellaswag,
  },
  lambada_openai: { folders: ['lambada', 'lambada_openai'], files: ['lambada_test.jsonl', 'test.jsonl', 'lambada_openai.jsonl'], load: loadLambada },
  winogrande: { folders: ['winogrande'], files: ['dev.jsonl', 'validation.jsonl', 'winogrande.jsonl'], load: loadWinogrande },
};

const ALIASES: Record<string, PaperTask> = { lambada: 'lambada_openai', arc_e: 'arc_easy', arc_c: 'arc_challenge' };

export function isPaperTask(name: string): name is PaperTask {
  return (PAPER_TASKS as readonly string[]).includes(name);
}

export function canonicalTaskName(name: string): string {
  return ALIASES[name] ?? name;
}

/** The file a task reads: `override` (file or folder) or the first candidate under the data folder. */
export function resolveTaskFile(name: PaperTask, dataDir: string, override?: string): string {
  const spec = SPECS[name];
  const lookIn = (dir: string) => spec.files.map((f) => path.join(dir, f)).find((f) => fs.existsSync(f));
  if (override) {
    const p = path.resolve(override);
    if (!fs.existsSync(p)) throw notFound(p);
    if (!fs.statSync(p).isDirectory()) return p;
    const f = lookIn(p);
    if (!f) throw notFound(p, `no ${name} file here (looked for ${spec.files.join(', ')})`);
    return f;
  }
  const root = path.resolve(dataDir);
  if (!fs.existsSync(root)) throw notFound(root, 'no such data folder');
  const bases = [path.join(root, 'tasks'), root];
  for (const base of bases) for (const folder of spec.folders) {
    const f = lookIn(path.join(base, folder));
    if (f) return f;
  }
  const hint = name === 'sciq' ? ' (SciQ is not staged: give its test.json with --tasks sciq=FILE)' : '';
  throw notFound(root, `no ${name} data: looked for ${spec.folders[0]}/{${spec.files.join(',')}} under ${root} and ${path.join(root, 'tasks')}${hint}`);
}

export function loadPaperTask(name: PaperTask, file: string): Task {
  return SPECS[name].load(file);
}

/** "arc_easy,sciq=/x/test.json,all" → [{name, path?}]; "all" (or "paper") expands to the nine tasks. */
export function parseTaskList(list: string): Array<{ name: string; path?: string }> {
  const out: Array<{ name: string; path?: string }> = [];
  for (const raw of list.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = raw.indexOf('=');
    const name = canonicalTaskName(eq < 0 ? raw : raw.slice(0, eq));
    const p = eq < 0 ? undefined : raw.slice(eq + 1);
    if (name === 'all' || name === 'paper') out.push(...PAPER_TASKS.map((n) => ({ name: n })));
    else out.push(p === undefined ? { name } : { name, path: p });
  }
  if (!out.length) throw inputError('no tasks given (--tasks arc_easy,piqa,… or all)');
  const seen = new Set<string>();
  return out.filter((t) => (seen.has(t.name) ? false : (seen.add(t.name), true)));
}
