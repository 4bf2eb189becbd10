// `idp study-figure --fig 1 --out DIR STUDY...`: paper Figure 1 (the compressed model's mean accuracy per
// compression setting) from several study folders, one setting each (study/sweep-chart.ts). The other
// figures come with each study (charts/).

import * as path from 'path';
import { Command, Option } from 'commander';
import { writeSweepFigure } from '../engine/index';
import { reportError } from './errors';

async function run(studies: string[], f: { fig: string; out: string; json?: boolean }): Promise<void> {
  try {
    const r = await writeSweepFigure(studies.map((s) => path.resolve(s)), path.resolve(f.out));
    if (f.json) process.stdout.write(`${JSON.stringify(r.sweep)}\n`);
    else {
      for (const p of r.sweep.points) process.stdout.write(`${p.setting.padEnd(48)} ${p.accuracy.toFixed(2)}\n`);
      if (r.sweep.base) process.stdout.write(`${`${r.sweep.base.label} (uncompressed)`.padEnd(48)} ${r.sweep.base.accuracy.toFixed(2)}\n`);
      process.stdout.write(`wrote ${r.svg}, ${path.basename(r.spec)}, ${path.basename(r.points)}\n`);
    }
  } catch (e) {
    process.exitCode = reportError(e);
  }
}

export function registerStudyFigureCommand(program: Command): void {
  program.command('study-figure')
    .description('figures over several study folders: --fig 1, mean accuracy of the compressed model per compression setting (one setting per study)')
    .argument('<studies...>', 'study folders (idp study --out), one compression setting each, same model, tasks, --limit, seed and BOS rule')
    .addOption(new Option('--fig <n>', 'which paper figure').choices(['1']).makeOptionMandatory())
    .requiredOption('--out <dir>', 'folder for fig1-compression.svg, .vl.json and .json (the points)')
    .option('--json', 'print the points as JSON')
    .action(run);
}
