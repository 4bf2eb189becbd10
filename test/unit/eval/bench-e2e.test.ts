// The benchmark end to end on stories260K (a real pretrained tiny Llama) with --limit subsets: staged
// tasks of every output type and held-out-text tasks; the logged per-sample results reproduce each
// task's metrics; packed and unpacked scoring agree on the real model; a soft-prompt adapter goes
// through the logits-only path; cancellation keeps finished tasks; `idp bench` as a child process.

import { strict as assert } from 'assert';
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { dataDir, dataPath, STORIES, tmpDir } from '../../helpers/data';
import { loadModel } from '../../../src/engine/models/load';
import type { LoadedModel } from '../../../src/engine/models/config';
import { CausalLM } from '../../../src/engine/runtime/lm';
import { AdaptedLM } from '../../../src/engine/train/adapted';
import { SoftPrompt } from '../../../src/engine/train/methods/prompt';
import { encodingFor } from '../../../src/engine/eval/requests';
import { loadBenchTasks } from '../../../src/engine/eval/bench';
import { runTasks, subsample } from '../../../src/engine/eval/harness';
import type { Task } from '../../../src/engine/eval/tasks/types';

const CLI = path.resolve(__dirname, '..', '..', '..', 'src', 'cli', 'main.js');
const idp = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60000 });
const TASKS = ['arc_easy', 'webqs', 'triviaqa', 'lambada_openai', 'winogrande', 'text_lambada', 'text_next_sentence', 'text_ppl'];

describe('bench end to end (stories260K, --limit)', function () {
  let m: LoadedModel;
  let lm: CausalLM;
  let tasks: Task[];
  let heldout: string;

  before(async function () {
    heldout = dataPath(this, 'corpora', 'tinystories', 'tinystories_sample.txt');
    m = await loadModel(dataPath(this, ...STORIES, 'stories260K.gguf'));
    lm = new CausalLM(m, { threads: 1 });
    tasks = loadBenchTasks(TASKS.map((name) => ({ name })), { dataDir: dataDir(), heldout: [heldout] });
  });

  it('the --limit subsample is seeded, sorted and the same for the same seed', () => {
    const a = subsample(2376, 5, 1234, 'arc_easy');
    assert.deepEqual(a, subsample(2376, 5, 1234, 'arc_easy'));
    assert.deepEqual(a, [...a].sort((x, y) => x - y));
    assert.notDeepEqual(a, subsample(2376, 5, 99, 'arc_easy'));
    assert.deepEqual(subsample(3, 5, 1, 't'), [0, 1, 2]);
  });

  it('every task type runs; logged samples reproduce the metrics; packing changes nothing', async () => {
    const enc = encodingFor(m.config, m.tokenizer);
    const seen: string[] = [];
    const run = await runTasks(lm, enc, tasks, { limit: 6, maxGenToks: 24, onProgress: (p) => { if (!seen.includes(p.task)) seen.push(p.task); } });
    assert.equal(run.cancelled, false);
    assert.deepEqual(run.results.map((r) => r.name), TASKS);
    assert.deepEqual(seen, TASKS);
    for (const r of run.results) {
      assert.equal(r.n, Math.min(6, r.total), r.name);
      const logs = run.samples.filter((s) => s.task === r.name);
      assert.equal(logs.length, r.n);
      for (const [name, v] of Object.entries(r.metrics)) {
        if (name === 'acc' || name === 'acc_norm' || name === 'exact_match') {
          assert.ok(v!.value >= 0 && v!.value <= 1);
          assert.equal(v!.value, logs.reduce((s, l) => s + (l.metrics[name] as number), 0) / logs.length, `${r.name} ${name}`);
        }
      }
    }
    // multiple choice: acc is the argmax of the logged lls
    for (const s of run.samples.filter((x) => x.task === 'arc_easy')) {
      const pred = s.lls!.indexOf(Math.max(...s.lls!));
      assert.equal(s.metrics.acc, pred === s.gold ? 1 : 0);
    }
    const lam = run.results.find((r) => r.name === 'lambada_openai')!;
    const lls = run.samples.filter((s) => s.task === 'lambada_openai').map((s) => s.lls![0]);
    assert.ok(Math.abs(lam.metrics.perplexity!.value - Math.exp(-lls.reduce((a, b) => a + b) / lls.length)) < 1e-9 * lam.metrics.perplexity!.value);
    const tq = run.samples.filter((s) => s.task === 'triviaqa');
    for (const s of tq) assert.ok(!/[\n.,]/.test(s.generated!), s.generated);
    const ppl = run.results.find((r) => r.name === 'text_ppl')!;
    assert.ok(ppl.metrics.word_perplexity!.value > 1 && ppl.metrics.bits_per_byte!.value > 0);

    const plain = await runTasks(lm, enc, tasks.filter((t) => t.outputType === 'multiple_choice' || t.outputType === 'loglikelihood'), { limit: 6, pack: false });
    for (const s of plain.samples) {
      const p = run.samples.find((x) => x.task === s.task && x.doc === s.doc)!;
      s.lls!.forEach((ll, i) => assert.ok(Math.abs(ll - p.lls![i]) < 1e-3, `${s.task} ${s.doc}: ${ll} vs ${p.lls![i]}`));
      assert.deepEqual(s.is_greedy, p.is_greedy);
    }
  });

  it('a soft-prompt adapter scores through logits(seqs) (no packing) and generates greedily', async () => {
    const enc = encodingFor(m.config, m.tokenizer);
    const adapted = new AdaptedLM(SoftPrompt.create(m, { tokens: 4, init: 'vocab', seed: 1 }), { threads: 1 });
    const pick = tasks.filter((t) => t.name === 'arc_easy' || t.name === 'triviaqa');
    const run = await runTasks(adapted, enc, pick, { limit: 2, maxGenToks: 8 });
    assert.deepEqual(run.results.map((r) => r.n), [2, 2]);
    const base = await runTasks(lm, enc, pick.slice(0, 1), { limit: 2 });
    assert.notDeepEqual(run.samples[0].lls, base.samples[0].lls);   // the prompt changes the scores
  });

  it('cancellation stops during a task and keeps the ones before it', async () => {
    const enc = encodingFor(m.config, m.tokenizer);
    let calls = 0;
    const run = await runTasks(lm, enc, tasks.slice(0, 3), { limit: 4, maxGenToks: 8, isCancelled: () => ++calls > 3 });
    assert.equal(run.cancelled, true);
    assert.ok(run.results.length < 3);
    assert.equal(run.cancelledTask, TASKS[run.results.length]);
  });

  it('idp bench writes JSON, Markdown (Table 1 layout) and per-sample logs; a missing --bank is a typed error', function () {
    const out = path.join(tmpDir('idp-bench-cli-'), 'r', 'res.json');
    const r = idp('bench', '--model', dataPath(this, ...STORIES, 'stories260K.gguf'), '--tasks', 'arc_easy,piqa,text_next_sentence',
      '--heldout', heldout, '--data-dir', dataDir(), '--limit', '3', '--out', out);
    assert.equal(r.status, 0, r.stderr);
    const rep = JSON.parse(fs.readFileSync(out, 'utf8'));
    assert.equal(rep.status, 'complete');
    assert.deepEqual(Object.keys(rep.tasks), ['arc_easy', 'piqa', 'text_next_sentence']);
    assert.equal(rep.tasks.piqa.n, 3);
    assert.equal(rep.headline.piqa.metric, 'acc');
    assert.equal(rep.aggregates.values.Common.value, rep.tasks.piqa.metrics.acc.value);
    assert.deepEqual(rep.aggregates.missing.World, ['arc_challenge', 'sciq', 'webqs', 'triviaqa']);
    const md = fs.readFileSync(out.replace(/\.json$/, '.md'), 'utf8');
    assert.match(md, /\| Model \| Type \| Param \| arcE \| arcC \| sciq \| webqs \| triviaqa \| World \| piqa \| Common \|/);
    assert.equal(fs.readFileSync(out.replace(/\.json$/, '.samples.jsonl'), 'utf8').trim().split('\n').length, 9);
    assert.match(r.stdout, /\| stories260K\.gguf \| - \|/);
    assert.match(r.stderr, /\[bench\] arc_easy/);
    assert.deepEqual(fs.readdirSync(path.dirname(out)).sort(), ['res.json', 'res.md', 'res.samples.jsonl']);   // no temp files left

    const bank = idp('bench', '--tasks', 'piqa', '--bank', '/tmp/no-such-bank', '--out', out);   // banks that exist: test/unit/study
    assert.equal(bank.status, 3);
    assert.match(bank.stderr, /\/tmp\/no-such-bank: no such file or folder/);
    const bad = idp('bench', '--tasks', 'mmlu', '--out', out);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /unknown task 'mmlu'/);
  });

  it('Ctrl-C during a task writes the finished tasks with status "cancelled" and exits 130', async function () {
    const out = path.join(tmpDir('idp-bench-cancel-'), 'res.json');
    const child = spawn(process.execPath, [CLI, 'bench', '--model', dataPath(this, ...STORIES, 'stories260K.gguf'), '--tasks', 'text_ppl,hellaswag',
      '--heldout', heldout, '--data-dir', dataDir(), '--limit', '500', '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => {
      err += b.toString();
      if (err.includes('[bench] hellaswag 0/')) child.kill('SIGINT');
    });
    const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
    assert.equal(code, 130, err);
    const rep = JSON.parse(fs.readFileSync(out, 'utf8'));
    assert.equal(rep.status, 'cancelled');
    assert.deepEqual(Object.keys(rep.tasks), ['text_ppl']);
    assert.ok(rep.notes.some((n: string) => /cancelled during hellaswag/.test(n)));
  });
});
