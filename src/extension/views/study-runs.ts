// The study runs in a lab folder: every folder (up to three levels down, hidden ones skipped) that
// holds a study.json. A file that is not a readable idp-study/1 report is listed with the reason, so
// the Benchmarks view can say why it cannot show it. Imports no `vscode`.

import * as fs from 'fs';
import * as path from 'path';
import { studyReport, StudyReport } from '../../protocol/webview/study-report';
import { validate } from '../../protocol/webview/validate';
import { foldersWith } from './lab-folders';

export interface StudyRun {
  /** The folder relative to the lab root ("runs/2026-…-study"), unique. */
  id: string;
  dir: string;
  /** "<model> · <compression>" or the folder name when the report is unreadable. */
  label: string;
  created: string;
  status: string;
  error?: string;
}

const MAX_DEPTH = 3;

/** Reads and validates one study.json. */
export function readStudy(dir: string): { ok: true; report: StudyReport } | { ok: false; error: string } {
  const file = path.join(dir, 'study.json');
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    return { ok: false, error: `${file}: ${(e as Error).message}` };
  }
  const r = validate(studyReport, json, 'study.json');
  return r.ok ? { ok: true, report: r.value } : { ok: false, error: `${file}: ${r.error.message}` };
}

/** Every study run under `root`, newest first (unreadable ones last). */
export function listStudies(root: string): StudyRun[] {
  const runs = foldersWith(root, 'study.json', MAX_DEPTH).map((dir): StudyRun => {
    const id = path.relative(root, dir).split(path.sep).join('/') || '.';
    const r = readStudy(dir);
    if (!r.ok) return { id, dir, label: path.basename(dir), created: '', status: 'unreadable', error: r.error };
    const rep = r.report;
    return { id, dir, label: `${rep.model.label} · ${rep.compression.description || rep.compression.spec}`, created: rep.created, status: rep.status };
  });
  // readable runs newest first, then the unreadable ones by folder
  return runs.sort((a, b) => Number(!!a.error) - Number(!!b.error) || b.created.localeCompare(a.created) || a.id.localeCompare(b.id));
}
