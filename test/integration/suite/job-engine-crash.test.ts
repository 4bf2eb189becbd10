// In the real extension host: the job engine (ctx.work, the second engine process that runs the
// workflows) is killed in the middle of a training job. The job fails with a message naming what
// happened, leaves nothing in the lab and no job running; the interactive engine keeps its process
// and model; the job engine is started again and the next workflow command runs to the end.

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { api, resetSettings, runDirs, stagingDirs, waitFor } from './helpers';
import { defaultModelPath } from '../../../src/engine/defaults';


describe('extension host: the job engine crashing mid-job', function () {
  this.timeout(120000);
  after(resetSettings);

  it('a SIGKILLed job engine fails the job with a message naming the crash; the next job runs in a new process', async () => {
    const a = await api();
    await vscode.commands.executeCommand('idp.selectModel', defaultModelPath());
    const root = a.labRoot();
    const before = runDirs(root);
    const enginePid = await a.engine.processId();
    const pending = vscode.commands.executeCommand<any>('idp.trainBaseline', {
      method: 'lora', model: defaultModelPath(), rank: 2, data: 'model', tokens: 10_000_000, seqlen: 64, batch: 2, sampleTokens: 512,
    });
    await waitFor('the job', () => a.jobs.running.size === 1);
    await waitFor('its staging folder', () => stagingDirs(root).length === 1);
    await waitFor('the job engine to report training progress', () => [...a.jobs.running.values()][0]?.last?.tokensPerSecond);
    const workPid = await a.work.processId();
    assert.notEqual(workPid, enginePid, 'the job runs in the job engine');
    process.kill(workPid, 'SIGKILL');

    assert.equal(await pending, undefined, 'the job failed');
    // what the user is told (the error message with Show Log; also the job's log line)
    assert.match(a.jobs.lastFailure!.title, /^Training LoRA r 2 on /);
    assert.equal(a.jobs.lastFailure!.message,
      'the engine process died while working on this request: it was killed (SIGKILL: out of memory, or ended from outside); it is being restarted (see the IDP log)');
    assert.equal(a.jobs.running.size, 0, 'no job (or progress notification) left');
    assert.deepEqual(runDirs(root), before, 'no run folder');
    assert.deepEqual(stagingDirs(root), [], 'no staging folder');
    // the interactive engine was not touched
    assert.equal(await a.engine.processId(), enginePid);
    assert.equal(a.engine.model?.path, defaultModelPath());

    // the job engine comes back by itself, in a new process
    const workPid2 = await waitFor('a new job engine process', async () => {
      const p = await a.work.processId().catch(() => undefined);
      return p !== undefined && p !== workPid ? p : undefined;
    });
    assert.notEqual(workPid2, workPid);
    const r = await vscode.commands.executeCommand<any>('idp.trainBaseline', {
      method: 'lora', model: defaultModelPath(), rank: 2, targets: ['q', 'v'], data: 'model', tokens: 256, seqlen: 32, batch: 4, sampleTokens: 256,
    });
    assert.ok(r, `trained after the crash (${a.jobs.lastFailure?.message})`);
    assert.ok(fs.existsSync(path.join(r.value.adapter, 'adapter_config.json')));
    assert.equal(JSON.parse(fs.readFileSync(path.join(r.run, 'run.json'), 'utf8')).kind, 'baseline');
    assert.equal(await a.work.processId(), workPid2, 'it ran in the restarted job engine');
  });
});
