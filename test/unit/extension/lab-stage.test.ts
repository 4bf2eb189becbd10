// Staged lab runs (Lab.stageRun): a job's outputs are written into a hidden folder beside the runs and
// appear as a run (with run.json) only on commit; discard and crash leftovers leave nothing listed.

import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Lab } from '../../../src/extension/lab';
import { tmpDir } from '../../helpers/data';

const visible = (lab: Lab) => fs.readdirSync(lab.runsDir).filter((n) => !n.startsWith('.'));
const hidden = (lab: Lab) => fs.readdirSync(lab.runsDir).filter((n) => n.startsWith('.'));

describe('extension glue: staged lab runs', () => {
  it('a committed run appears whole, with run.json, under its final name', () => {
    const lab = new Lab(tmpDir());
    const s = lab.stageRun('compress');
    assert.ok(path.basename(s.dir).startsWith('.') && s.dir.endsWith('.tmp'));
    fs.mkdirSync(path.join(s.dir, 'model'));
    fs.writeFileSync(path.join(s.dir, 'model', 'config.json'), '{}');
    assert.deepEqual(visible(lab), [], 'nothing listed while the job runs');
    assert.deepEqual(lab.listRuns(), []);
    const final = s.commit({ model: path.join(s.final, 'model'), bits: 4 });
    assert.equal(final, s.final);
    assert.ok(fs.existsSync(path.join(final, 'model', 'config.json')));
    assert.deepEqual(hidden(lab), []);
    const [run] = lab.listRuns('compress');
    assert.equal(run.id, s.id);
    assert.equal(run.bits, 4);
    assert.throws(() => s.commit({}), /already committed/);
  });

  it('a discarded run leaves nothing; a crash leftover is swept', () => {
    const lab = new Lab(tmpDir());
    const s = lab.stageRun('bank');
    fs.writeFileSync(path.join(s.dir, 'half-written.json'), '{');
    s.discard();
    s.discard();
    assert.deepEqual(fs.readdirSync(lab.runsDir), []);
    const crashed = lab.stageRun('bench');
    fs.writeFileSync(path.join(crashed.dir, 'bench.json'), '{');
    assert.equal(lab.sweep(), 0, 'a live process\'s staging is kept');
    // the same folder as a process that has exited leaves it: its name's owner pid is dead
    const dead = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
    const name = path.basename(crashed.dir);
    fs.renameSync(crashed.dir, path.join(lab.runsDir, name.replace(`.${process.pid}-`, `.${dead}-`)));
    assert.equal(lab.sweep(), 1);
    assert.deepEqual(fs.readdirSync(lab.runsDir), []);
    assert.deepEqual(lab.listRuns(), []);
  });
});
