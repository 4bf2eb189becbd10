// Removes tsc's output before a build, so a test or module deleted from the sources cannot linger in out/
// and keep running. Leaves everything else under out/ (e.g. the demo study's report folder, which reruns reuse).
import * as fs from 'node:fs';

for (const d of ['src', 'test', 'bench', 'scripts']) fs.rmSync(`out/${d}`, { recursive: true, force: true });
