// What the benchmark results record about the machine they ran on.

import * as fs from 'fs';
import * as os from 'os';

/** The CPU's model name (/proc/cpuinfo on Linux, else what Node reports). */
export function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1].trim();
  } catch { /* not Linux */ }
  return os.cpus()[0]?.model ?? 'unknown';
}
