// `idp study --preset paper`: the preset expands to the settings docs/study.md lists (the paper's §3.2 /
// appendix A, IDP on §3.2.1's 50 + 100 prompts), a typed flag overrides its setting while commander's
// defaults do not, and a real CLI study with the preset records it and the settings it used.

import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { Command } from 'commander';
import { tmpDir } from '../../helpers/data';
import { writeHeldoutText, writeTextModel } from '../../helpers/study';
import { applyPreset } from '../../../src/engine/study/preset';
import { registerStudyCommand, studyOptions } from '../../../src/cli/study';
import type { StudyReport } from '../../../src/protocol/study-schema';

const root = tmpDir('idp-study-preset-');
const PAPER = {
  compress: 'gptq:3', methods: ['none', 'prompt:50', 'prompt:100', 'concat', 'idp', 'lora:2', 'lora:3', 'lora:4'],
  targets: ['q', 'k', 'v', 'o', 'up', 'down'], tokens: 40_960_000, tasks: ['paper'], lr: 2e-4, weightDecay: 1e-5,
};

/** The study options the CLI would pass for these arguments (the command's action replaced). */
function cliOptions(args: string[]) {
  const program = new Command().exitOverride();
  registerStudyCommand(program);
  const cmd = program.commands.find((c) => c.name() === 'study')!;
  let got: unknown;
  cmd.action((f, c: Command) => { got = applyPreset(studyOptions(f, (flag) => c.getOptionValueSource(flag) === 'cli')); });
  program.parse(['study', '--out', path.join(root, 'x'), '--model', 'm', ...args], { from: 'user' });
  return got as Record<string, unknown>;
}

describe('study: --preset paper', () => {
  it('expands to the documented settings', () => {
    const o = applyPreset({ preset: 'paper', model: 'm', out: 'o' } as never) as unknown as Record<string, unknown>;
    for (const [k, v] of Object.entries(PAPER)) assert.deepEqual(o[k], v, k);
    const cli = cliOptions(['--preset', 'paper']);
    for (const [k, v] of Object.entries(PAPER)) assert.deepEqual(cli[k], v, `CLI ${k}`);
  });

  it('a typed flag overrides the preset; untyped defaults do not', () => {
    const o = cliOptions(['--preset', 'paper', '--lr', '0.01', '--methods', 'none,lora:2', '--tokens', '64']);
    assert.equal(o.lr, 0.01);
    assert.deepEqual(o.methods, ['none', 'lora:2']);
    assert.equal(o.tokens, 64);
    assert.deepEqual(o.targets, PAPER.targets);   // --targets has a commander default, not typed
    assert.equal(o.compress, 'gptq:3');
    assert.deepEqual(cliOptions(['--tokens', '8', '--tasks', 'text_ppl']).targets, ['q', 'k', 'v', 'o', 'gate', 'up', 'down']);   // no preset: the defaults
  });

  it('a CLI study with the preset records it and uses its settings', function () {
    this.timeout(240_000);
    const model = writeTextModel(path.join(root, 'model'), { maxPositions: 96 });
    const out = path.join(root, 'study');
    const p = spawnSync(process.execPath, [path.join(__dirname, '..', '..', '..', 'src', 'cli', 'main.js'), 'study', '--preset', 'paper', '--model', model,
      '--compress', 'gptq:4:g32', '--methods', 'none,lora:2', '--tokens', '64', '--tasks', 'text_ppl', '--heldout', writeHeldoutText(path.join(root, 'h.txt')),
      '--out', out, '--limit', '3', '--seqlen', '16', '--batch', '4', '--calib-samples', '4', '--no-latency', '--no-similarity', '--quiet'], { encoding: 'utf8' });
    assert.equal(p.status, 0, p.stderr);
    const r = JSON.parse(fs.readFileSync(path.join(out, 'study.json'), 'utf8')) as StudyReport;
    assert.equal(r.settings.preset, 'paper');
    assert.equal(r.compression.spec, 'gptq:4:g32');
    const note = r.notes.find((n) => n.startsWith('preset paper:'));
    assert.ok(note, r.notes.join('\n'));
    assert.match(note!, /set targets \["q","k","v","o","up","down"\], lr 0\.0002, weightDecay 0\.00001; overridden by the options: compress "gptq:4:g32", methods \["none","lora:2"\], tokens 64, tasks \["text_ppl"\]/);
    assert.match(r.notes[0], /AdamW lr 0\.0002, weight decay 0\.00001/);
    // LoRA on appendix A's six matrices per layer: r · (d_in + d_out) each, 2 layers of a width-32, GQA (kv 16), FFN 64 model
    const lora = r.rows.find((x) => x.id === 'lora-r2')!;
    assert.equal(lora.params.trained, 2 * 2 * ((32 + 32) + (32 + 16) + (32 + 16) + (32 + 32) + (32 + 64) + (64 + 32)));
  });
});
