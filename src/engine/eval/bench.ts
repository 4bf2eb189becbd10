// Loading the tasks of one benchmark run: the paper's nine (from a data folder, or a file per task)
// and the held-out-text tasks (from --heldout files).

import { inputError } from '../errors';
import { buildHeldoutTask, heldoutDocuments, HeldoutOptions, isHeldoutTask, HELDOUT_TASKS } from './heldout-tasks';
import { isPaperTask, loadPaperTask, PAPER_TASKS, resolveTaskFile } from './tasks';
import type { Task } from './tasks/types';

export interface TaskSpec { name: string; path?: string }

export interface LoadTasksOptions {
  dataDir: string;
  /** Held-out text files (paths or globs) for the text_* tasks. */
  heldout?: string[];
  heldoutOptions?: HeldoutOptions;
}

export function loadBenchTasks(specs: TaskSpec[], o: LoadTasksOptions): Task[] {
  const unknown = specs.find((s) => !isPaperTask(s.name) && !isHeldoutTask(s.name));
  if (unknown) {
    throw inputError(`unknown task '${unknown.name}' (paper tasks: ${PAPER_TASKS.join(', ')} or all; held-out text tasks: ${HELDOUT_TASKS.join(', ')})`);
  }
  let text: { docs: string[]; files: string[] } | undefined;
  return specs.map((s) => {
    if (isPaperTask(s.name)) return loadPaperTask(s.name, resolveTaskFile(s.name, o.dataDir, s.path));
    if (!isHeldoutTask(s.name)) throw inputError(`unknown task '${s.name}'`);
    const t = s.path ? heldoutDocuments([s.path]) : (text ??= heldoutDocuments(o.heldout ?? []));
    return buildHeldoutTask(s.name, t.docs, t.files, o.heldoutOptions);
  });
}
