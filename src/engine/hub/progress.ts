// Download progress as log lines, for callers that pass no progress callback (the CLI, the engine
// process, whose stderr is the extension's log): a line when a file starts, then at most one every
// few seconds, then when it is done. Never on stdout (the CLI's --json output and the engine's
// protocol live there).

import type { HubProgress } from './resolve';

const mb = (n: number) => `${(n / 1e6).toFixed(n < 1e7 ? 1 : 0)} MB`;

export function progressLines(write: (line: string) => void = (l) => void process.stderr.write(l), everyMs = 3000): (p: HubProgress) => void {
  let file = '';
  let last = 0;
  return (p) => {
    const now = Date.now();
    const started = p.file !== file;
    const done = p.fileSize !== undefined && p.fileBytes >= p.fileSize;
    if (!started && !done && now - last < everyMs) return;
    file = p.file;
    last = now;
    const size = p.fileSize !== undefined ? ` of ${mb(p.fileSize)}` : '';
    const all = p.total ? `, ${Math.floor((100 * p.bytes) / p.total)}% of ${mb(p.total)} in all` : '';
    write(`downloading ${p.repo}/${p.file}: ${mb(p.fileBytes)}${size}${done ? ' — done' : ''}${all}\n`);
  };
}
