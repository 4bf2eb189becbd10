// What the benchmark results record about the machine they ran on.

import * as fs from 'fs';
import * as os from 'os';
import { hugePagesOn } from '../src/engine/runtime/huge-pages';

/** The CPU's model name (/proc/cpuinfo on Linux, else what Node reports). */
export function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1].trim();
  } catch { /* not Linux */ }
  return os.cpus()[0]?.model ?? 'unknown';
}

/**
 * How the engine's memory is paged: whether this process asked glibc for transparent huge pages
 * (runtime/huge-pages.ts) and the kernel's THP mode (`always`, `madvise` or `never`).
 */
export function pages(): { glibcHugePages: boolean; thp: string } {
  let thp = 'unknown';
  try {
    thp = /\[(\w+)\]/.exec(fs.readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8'))?.[1] ?? thp;
  } catch { /* not Linux, or no THP */ }
  return { glibcHugePages: hugePagesOn(), thp };
}
