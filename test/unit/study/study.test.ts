// The study end to end on a tiny random Llama with a real tokenizer and a tiny token budget: an
// interrupted run writes a cancelled report with its finished rows; the rerun completes and reuses the
// compressed model, every trained method and the finished rows (nothing retrained, no bench redone);
// study.json matches the schema (checked field by field here), table.md and the SVG charts are written; a
// copy of the folder elsewhere reuses everything (keys hash settings and contents, not paths).
// Also: cosine similarity of a model to itself is 1 at every layer; bad specs are typed errors.

import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { tmpDir } from '../../helpers/data';
import { writeHeldoutText, writeTextModel } from '../../helpers/study';
import { expectIdpError } from '../../helpers/tiny-hf';
import { TINY_SPECS, writeTinyModel } from '../../helpers/oracle-models';
import { loadModel } from '../../../src/engine/models/load';
import { runStudy, StudyProgress } from '../../../src/engine/study/run';
import { parseCompress, parseMethods, StudyOptions } from '../../../src/engine/study/options';
import { STUDY_SCHEMA, StudyReport } from '../../../src/protocol/study-schema';
import { plainRow, zero } from '../../../src/engine/study/rows';
import { similarity } from '../../../src/engine/study/similarity';

const root = tmpDir('idp-study-');
const num = (x: unknown) => typeof x === 'number' && Number.isFinite(x);

/** Structural check of study.json against src/protocol/study-schema.ts (every field's type; relative paths exist). */
function checkReport(r: StudyReport, dir: string): void {
  assert.equal(r.schema, STUDY_SCHEMA);
  assert.ok(['complete', 'partial', 'cancelled'].includes(r.status));
  assert.ok(!Number.isNaN(Date.parse(r.created)) && num(r.seconds));
  assert.ok(typeof r.model.path === 'string' && typeof r.model.label === 'string' && typeof r.model.arch === 'string' && num(r.model.parameters));
  assert.ok(typeof r.compression.spec === 'string' && fs.existsSync(path.resolve(dir, r.compression.path)) && typeof r.compression.description === 'string');
  const s = r.settings;
  assert.ok(Array.isArray(s.methods) && num(s.tokens) && Array.isArray(s.tasks) && Array.isArray(s.heldout) && num(s.seed));
  for (const row of r.rows) {
    assert.ok(typeof row.id === 'string' && typeof row.label === 'string' && typeof row.kind === 'string', JSON.stringify(row));
    assert.ok(['done', 'failed', 'skipped'].includes(row.status));
    for (const k of ['paper', 'trained', 'stored'] as const) assert.ok(num(row.params[k]), `${row.id} params.${k}`);
    if (row.status !== 'done') continue;
    assert.ok(row.bench && fs.existsSync(path.join(dir, row.bench)), `${row.id} bench file`);
    for (const [task, v] of Object.entries(row.headline)) assert.ok(typeof v.metric === 'string' && num(v.value) && (v.stderr === null || num(v.stderr)), `${row.id} ${task}`);
    assert.ok(row.heldout && num(row.heldout.nll) && num(row.heldout.ppl) && num(row.heldout.tokens));
    if (row.latency) for (const k of ['batch', 'seqlen', 'prefillMs', 'decodeMsPerToken'] as const) assert.ok(num(row.latency[k]), `${row.id} latency.${k}`);
    if (row.training) assert.ok(num(row.training.tokens) && num(row.training.seconds));
  }
  if (r.analyses.similarity) {
    const sim = r.analyses.similarity;
    for (const v of Object.values(sim.rows)) {
      assert.equal(v.attention.length, sim.layers);
      assert.equal(v.hidden.length, sim.layers);
      for (const x of [...v.attention, ...v.hidden]) assert.ok(num(x) && x <= 1 + 1e-6 && x >= -1 - 1e-6);
    }
  }
  for (const p of r.analyses.promptLengths ?? []) assert.ok(typeof p.row === 'string' && num(p.tokens) && num(p.ppl) && num(p.accuracy));
  for (const c of r.charts) {
    assert.ok(typeof c.name === 'string' && typeof c.title === 'string');
    JSON.parse(fs.readFileSync(path.join(dir, c.spec), 'utf8'));
    assert.match(fs.readFileSync(path.join(dir, c.svg), 'utf8'), /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  }
  assert.ok(fs.existsSync(path.join(dir, r.table)));
  assert.ok(Array.isArray(r.notes));
}

/** Appendix A's IDP count for these lengths, from the full-bank row's count and its lengths (linear in Σ n). */
function promptParamsPaper(r: StudyReport, lengths: number[]): number {
  const full = r.rows.find((x) => x.kind === 'idp' && x.id.split('-')[1].split('+').length === 3)!;
  const all = full.id.split('-')[1].split('+').map(Number);
  return full.params.paper / all.reduce((a, b) => a + b, 0) * lengths.reduce((a, b) => a + b, 0);
}

describe('study end to end (tiny random Llama)', function () {
  this.timeout(120000);
  const out = path.join(root, 'study');
  let modelDir: string;
  let options: StudyOptions;

  before(() => {
    modelDir = writeTextModel(path.join(root, 'model'), { maxPositions: 96 });
    const heldout = writeHeldoutText(path.join(root, 'heldout.txt'));
    options = {
      model: modelDir, compress: 'gptq:4:g32', methods: ['none', 'prompt:2', 'prompt:4', 'concat', 'idp', 'prefix:2', 'lora:2'], tokens: 128,
      tasks: ['text_next_sentence', 'text_lambada', 'text_ppl'], heldout: [heldout], out, limit: 5, seed: 3, seqLen: 16, batch: 4, calibSamples: 4,
      latency: { batch: 1, seqLen: 8, decode: 2, repeats: 1 }, similarity: { samples: 2, seqLen: 12 },
    };
    JSON.parse(JSON.stringify(options));   // plain JSON (the extension sends it over JSON-RPC)
  });

  it('an interrupted study keeps its finished rows; the rerun reuses them and retrains nothing', async () => {
    const ac = new AbortController();
    const first = await runStudy(options, { signal: ac.signal, onProgress: (p) => { if (p.stage === 'bench' && p.row === 'prompt-4') ac.abort(); } });
    assert.equal(first.status, 'cancelled');
    const saved = JSON.parse(fs.readFileSync(path.join(out, 'study.json'), 'utf8')) as StudyReport;
    assert.equal(saved.status, 'cancelled');
    assert.deepEqual(saved.rows.filter((r) => r.status === 'done').map((r) => r.id), ['base', 'compressed', 'prompt-2']);
    const compressedAt = fs.statSync(path.join(out, 'compressed', 'config.json')).mtimeMs;

    const events: StudyProgress[] = [];
    const r = await runStudy(options, { onProgress: (p) => events.push(p) });
    assert.equal(r.status, 'complete', JSON.stringify(r.rows.filter((x) => x.status !== 'done')));
    assert.deepEqual(r.rows.map((x) => x.id), ['base', 'compressed', 'prompt-2', 'prompt-4', 'concat-2+4', 'idp-2+4', 'prefix-2', 'lora-r2']);
    // nothing compressed or trained again; the rows finished before the interruption are not benchmarked again
    assert.ok(events.some((e) => e.stage === 'compress' && e.reused));
    assert.ok(!events.some((e) => e.stage === 'train' && !e.reused), 'a method was trained again');
    assert.ok(!events.some((e) => e.stage === 'bench' && ['base', 'compressed', 'prompt-2'].includes(e.row!)), 'a finished row was benchmarked again');
    assert.equal(fs.statSync(path.join(out, 'compressed', 'config.json')).mtimeMs, compressedAt);
    for (const id of ['base', 'compressed', 'prompt-2']) assert.ok(r.rows.find((x) => x.id === id)!.reused?.includes('bench'), id);
    for (const x of r.rows.filter((y) => y.training)) assert.ok(x.reused?.includes('training'), `${x.id} retrained`);

    checkReport(JSON.parse(fs.readFileSync(path.join(out, 'study.json'), 'utf8')), out);
    const idp = r.rows.find((x) => x.kind === 'idp')!;
    assert.deepEqual(idp.selection!.prompts, [2, 4]);
    const bench = JSON.parse(fs.readFileSync(path.join(out, idp.bench!), 'utf8'));
    const docs = Object.values(bench.tasks as Record<string, { n: number }>).reduce((a, t) => a + t.n, 0);
    assert.equal(idp.selection!.counts.reduce((a, b) => a + b, 0), docs);
    assert.deepEqual(Object.keys(idp.headline).sort(), ['text_lambada', 'text_next_sentence', 'text_ppl']);
    assert.equal(idp.params.paper, 6 * 32);
    assert.ok(r.rows.find((x) => x.id === 'lora-r2')!.params.paper > 0);
    assert.deepEqual(Object.keys(r.analyses.similarity!.rows).sort(), r.rows.slice(1).map((x) => x.id).sort());
    assert.deepEqual(r.charts.map((c) => c.name).sort(), ['accuracy-vs-params', 'idp-prompt-size', 'latency', 'ppl-vs-accuracy', 'similarity', 'task-change']);
    // Fig. 6: the bank at its average prompt size (mean of 2 and 4), each single prompt at its length, the compressed model as a rule
    const fig6 = JSON.parse(fs.readFileSync(path.join(out, 'charts', 'idp-prompt-size.vl.json'), 'utf8'));
    assert.deepEqual(fig6.layer[0].data.values.map((p: { kind: string; tokens: number }) => `${p.kind} ${p.tokens}`), ['prompt 2', 'prompt 4', 'idp 3']);
    assert.equal(fig6.layer[2].mark.type, 'rule');
    // Fig. 7 in percent of the compressed model's accuracy (the paper's "percentage improvement"), points beside
    const ref = r.rows.find((x) => x.kind === 'compressed')!;
    const fig7 = JSON.parse(fs.readFileSync(path.join(out, 'charts', 'task-change.vl.json'), 'utf8'));
    for (const v of fig7.data.values as Array<{ row: string; task: string; change: number; points: number }>) {
      const was = ref.headline[v.task].value;
      assert.ok(Math.abs(v.change - 100 * v.points / was) < 0.01 * Math.max(1, Math.abs(v.change)), JSON.stringify(v));
    }
    // Fig. 2 on lm-eval's word perplexity of text_ppl (the paper's axis), each point that row's headline value
    const fig2 = r.analyses.promptLengths!;
    assert.ok(fig2.length >= 3 && fig2.every((p) => p.perplexity === 'word' && p.pplTask === 'text_ppl'));
    for (const p of fig2) assert.equal(p.ppl, r.rows.find((x) => x.id === p.row)!.headline.text_ppl.value);
    assert.match(JSON.parse(fs.readFileSync(path.join(out, 'charts', 'ppl-vs-accuracy.vl.json'), 'utf8')).layer[0].encoding.x.title, /^word perplexity \(text_ppl\)$/);
    // lm-eval's BOS rule is recorded (no BOS for this Llama by default)
    assert.equal(r.settings.addBos, false);
    assert.ok(r.notes.some((n) => /contexts encoded without BOS/.test(n)));
    const table = fs.readFileSync(path.join(out, 'table.md'), 'utf8');
    for (const x of r.rows) assert.ok(table.includes(`| ${x.label} |`), x.label);
    assert.match(table, /text_next_sentence/);
  });

  it('several banks in one study (Fig. 6): each idp:<a>+<b> row its own bank of the trained prompts, a one-prompt bank equal to that prompt', async () => {
    const dir = path.join(root, 'banks');
    const r = await runStudy({
      ...options, out: dir, methods: ['prompt:2', 'prompt:4', 'prompt:6', 'idp', 'idp:2+4', 'idp:6'], tasks: ['text_next_sentence', 'text_ppl'],
      latency: false, similarity: false,
    });
    assert.equal(r.status, 'complete', JSON.stringify(r.rows.filter((x) => x.status !== 'done')));
    assert.deepEqual(r.rows.map((x) => x.id), ['base', 'compressed', 'prompt-2', 'prompt-4', 'prompt-6', 'idp-2+4+6', 'idp-2+4', 'idp-6']);
    const row = (id: string) => r.rows.find((x) => x.id === id)!;
    assert.deepEqual(row('idp-2+4').selection!.prompts, [2, 4]);
    assert.equal(row('idp-2+4').label.endsWith('IDP (2, 4)'), true);
    assert.equal(row('idp-2+4').params.paper, promptParamsPaper(r, [2, 4]));
    // a bank of one prompt always selects it and scores as that prompt alone (same positions): the same accuracy;
    // perplexity within 1 % (two graphs over 4-bit MatMulNBits at accuracy level 4, which rounds activations to int8;
    // on float weights the two agree to 2e-6 in the logits)
    assert.deepEqual(row('idp-6').selection!.counts.length, 1);
    assert.equal(row('idp-6').headline.text_next_sentence.value, row('prompt-6').headline.text_next_sentence.value);
    const [a, b] = [row('idp-6').headline.text_ppl.value, row('prompt-6').headline.text_ppl.value];
    assert.ok(Math.abs(Math.log(a) - Math.log(b)) < 0.01 * Math.log(b), `text_ppl ${a} vs ${b}`);
    // Fig. 6: every bank at its average prompt size
    const fig6 = JSON.parse(fs.readFileSync(path.join(dir, 'charts', 'idp-prompt-size.vl.json'), 'utf8'));
    assert.deepEqual(fig6.layer[0].data.values.filter((p: { kind: string }) => p.kind === 'idp').map((p: { tokens: number }) => p.tokens).sort(), [3, 4, 6]);
  });

  it('prompt:N@DATA: each prompt on its own text, the bank calibrated on held-out documents, the routing table; a rerun reuses it', async () => {
    const own = path.join(root, 'own');
    fs.mkdirSync(own, { recursive: true });
    // two kinds of text: the held-out generator's sentences as they are, and UPPERCASE
    const docs = fs.readFileSync(writeHeldoutText(path.join(own, 'src.txt'), { docs: 24, sentences: 3, seed: 9 }), 'utf8').split('\n<|endoftext|>\n');
    fs.writeFileSync(path.join(own, 'lower.jsonl'), docs.map((text) => JSON.stringify({ text })).join('\n'));
    fs.writeFileSync(path.join(own, 'upper.jsonl'), docs.map((text) => JSON.stringify({ text: text.toUpperCase() })).join('\n'));
    const o: StudyOptions = {
      ...options, out: path.join(own, 'study'), methods: ['none', `prompt:2@${path.join(own, 'lower.jsonl')}`, `prompt:2@${path.join(own, 'upper.jsonl')}`, 'idp', 'union:2'],
      tasks: ['text_ppl'], latency: false, similarity: false,
    };
    const r = await runStudy(o);
    assert.equal(r.status, 'complete', JSON.stringify(r.rows.filter((x) => x.status !== 'done')));
    assert.deepEqual(r.rows.map((x) => x.id), ['base', 'compressed', 'prompt-2-lower', 'prompt-2-upper', 'idp-2+2', 'union-2']);
    assert.equal(r.rows.find((x) => x.id === 'union-2')!.params.paper, r.rows.find((x) => x.id === 'prompt-2-lower')!.params.paper);
    assert.ok(r.notes.some((n) => n.includes('prompt-2-upper ← ')), r.notes.join('\n'));
    const rt = r.analyses.routing!;
    assert.ok(rt, 'a routing analysis');
    assert.deepEqual(rt.prompts.map((p) => p.row), ['prompt-2-lower', 'prompt-2-upper']);
    assert.deepEqual(rt.extra, ['union-2']);
    assert.ok(rt.nll.extra!.length === 1 && rt.sets.every((x) => x.nll.extra!.length === 1), 'the union prompt scored on the same tokens');
    assert.equal(rt.sets.length, 2);
    for (const [i, x] of rt.sets.entries()) {
      assert.equal(x.prompt, i);
      assert.ok(x.documents >= 1 && x.tokens > 0);
      assert.equal(x.selected.reduce((a, b) => a + b, 0), x.documents);
      assert.ok(Math.abs(x.routingAccuracy - x.selected[i] / x.documents) < 1e-12);
      for (const p of x.nll.prompts) assert.ok(x.nll.oracle <= p + 1e-9, 'the oracle is the per-document best prompt');
    }
    // calibrated on the other held-out documents (or the reason it was not is recorded)
    assert.ok(rt.calibration ? rt.selection.rule === 'calibrated' : !!rt.calibrationSkipped, JSON.stringify(rt.selection));
    const bankJson = JSON.parse(fs.readFileSync(path.join(o.out, 'train', 'bank', 'bank.json'), 'utf8'));
    assert.equal(Array.isArray(bankJson.calibration), !!rt.calibration);
    assert.match(fs.readFileSync(path.join(o.out, 'table.md'), 'utf8'), /## Routing: each prompt's held-out text through the bank/);
    const events: StudyProgress[] = [];
    const again = await runStudy(o, { onProgress: (p) => events.push(p) });
    assert.deepEqual(again.analyses.routing, rt);
    assert.ok(events.some((e) => e.stage === 'routing' && e.reused) && !events.some((e) => e.stage === 'routing' && !e.reused));
  });

  it('a moved study folder keeps its keys: everything is reused', async () => {
    const moved = path.join(root, 'moved');
    fs.cpSync(out, moved, { recursive: true });
    const events: StudyProgress[] = [];
    const r = await runStudy({ ...options, out: moved }, { onProgress: (p) => events.push(p) });
    assert.equal(r.status, 'complete');
    assert.ok(!events.some((e) => ['train', 'bench', 'heldout', 'latency', 'similarity'].includes(e.stage) && !e.reused), JSON.stringify(events.filter((e) => !e.reused).map((e) => e.stage)));
    for (const x of r.rows) assert.ok(['bench', 'heldout', 'latency'].every((k) => x.reused?.includes(k)), `${x.id}: ${x.reused}`);
  });

  it('idp study (CLI) with the same settings reuses the folder and prints the table', () => {
    const p = spawnSync(process.execPath, [path.join(__dirname, '..', '..', '..', 'src', 'cli', 'main.js'), 'study', '--model', modelDir,
      '--compress', 'gptq:4:g32', '--methods', options.methods.join(','), '--tokens', '128', '--tasks', options.tasks.join(','),
      '--heldout', options.heldout![0], '--out', out, '--limit', '5', '--seed', '3', '--seqlen', '16', '--batch', '4', '--calib-samples', '4',
      '--latency-batch', '1', '--latency-seqlen', '8', '--latency-decode', '2', '--latency-repeats', '1', '--similarity-samples', '2'],
    { encoding: 'utf8', timeout: 60000 });
    assert.equal(p.status, 0, p.stderr);
    assert.match(p.stdout, /\| Uncompressed \| - \| 0 \|/);
    assert.match(p.stderr, /compress: reusing/);
    assert.doesNotMatch(p.stderr, /\[study\] (train|bench):(?!.*reused)/);
  });

  it('cosine similarity of a model to itself is 1 at every layer', async () => {
    const m = await loadModel(modelDir);
    const a = plainRow('base', 'base', 'base', m, { threads: 1 }, zero('-'));
    const b = plainRow('same', 'same', 'compressed', m, { threads: 1 }, zero('-'));
    const sim = await similarity(a, [b], [[5, 17, 300, 42, 9, 1000], [7, 8, 9]], { threads: 1 });
    assert.equal(sim!.layers, 2);
    for (const x of [...sim!.rows.same.attention, ...sim!.rows.same.hidden]) assert.ok(Math.abs(x - 1) < 1e-6, `${x}`);
  });

  it('similarity: a change in one layer shows from that layer on, never before it', async () => {
    // Three models equal but for one MLP output projection (down_proj) set to zero. A layer's
    // attention reads the residual stream before its MLP, so: cutting layer 1's MLP leaves both
    // layers' attention and layer 0's hidden states as they were (cosine 1) and changes only layer 1's
    // hidden states; cutting layer 0's MLP changes everything after it: layer 0's hidden states and
    // all of layer 1, but not layer 0's attention. A similarity that is 1 everywhere, or that mixes
    // up layers or rows, fails here.
    const spec = TINY_SPECS.llamaGqa;
    const root = tmpDir('idp-sim-');
    const cut = (l: number) => ({ ...spec, edit: (w: Map<string, { data: Float64Array }>) => w.get(`model.layers.${l}.mlp.down_proj.weight`)!.data.fill(0) });
    writeTinyModel(path.join(root, 'base'), spec);
    writeTinyModel(path.join(root, 'cut0'), cut(0));
    writeTinyModel(path.join(root, 'cut1'), cut(1));
    const row = async (id: string) => plainRow(id, id, id === 'base' ? 'base' : 'compressed', await loadModel(path.join(root, id)), { threads: 1 }, zero('-'));
    const sim = await similarity(await row('base'), [await row('cut0'), await row('cut1')], [[5, 17, 30, 42, 9, 60, 2], [7, 8, 9]], { threads: 1 });
    const same = (x: number, what: string) => assert.ok(Math.abs(x - 1) < 1e-6, `${what}: ${x} (unchanged)`);
    const differs = (x: number, what: string) => assert.ok(x < 0.999 && x > -1, `${what}: ${x} (changed)`);
    const { cut0, cut1 } = sim!.rows;
    same(cut1.attention[0], 'cut1 attention 0'); same(cut1.attention[1], 'cut1 attention 1'); same(cut1.hidden[0], 'cut1 hidden 0');
    differs(cut1.hidden[1], 'cut1 hidden 1');
    same(cut0.attention[0], 'cut0 attention 0');
    differs(cut0.hidden[0], 'cut0 hidden 0'); differs(cut0.attention[1], 'cut0 attention 1'); differs(cut0.hidden[1], 'cut0 hidden 1');
  });

  it('bad specs are typed INPUT errors', async () => {
    await expectIdpError(() => parseCompress('gptq:5'), 'INPUT', undefined, /method:bits/);
    await expectIdpError(() => parseCompress('sparsegpt:1.5'), 'INPUT', undefined, /method:sparsity/);
    await expectIdpError(() => parseCompress('magnitude:0.5:4'), 'INPUT', undefined, /does not quantize/);
    assert.deepEqual(
      [parseCompress('sparsegpt:0.5'), parseCompress('sparsegpt:0.5:4:g64'), parseCompress('magnitude:.7')].map((c) => [c.method, c.sparsity, c.bits, c.groupSize, c.dense]),
      [['sparsegpt', 0.5, undefined, 128, true], ['sparsegpt', 0.5, 4, 64, false], ['magnitude', 0.7, undefined, 128, true]]);
    assert.deepEqual(parseCompress('sparsegpt:2:4').pattern, { n: 2, m: 4 });
    assert.equal(parseCompress('sparsegpt:2:4:4').bits, 4);
    await expectIdpError(() => parseCompress('sparsegpt:4:4'), 'INPUT', undefined, /1 ≤ N < M/);
    await expectIdpError(() => parseMethods(['idp']), 'INPUT', undefined, /prompt:N/);
    await expectIdpError(() => parseMethods(['lora']), 'INPUT', undefined, /needs a size/);
    await expectIdpError(() => parseMethods(['prompt:4', 'prompt:4']), 'INPUT', undefined, /twice/);
    await expectIdpError(() => parseMethods(['lora:2@notes.md']), 'INPUT', undefined, /only prompt:N takes its own data/);
    await expectIdpError(() => parseMethods(['prompt:4', 'union:4']), 'INPUT', undefined, /prompt:N@DATA/);
    assert.deepEqual(parseMethods(['prompt:4@a/*.md', 'prompt:4@b/*.md', 'prompt:8@x/data.jsonl', 'idp']).map((x) => [x.id, x.data]),
      [['prompt-4-md', 'a/*.md'], ['prompt-4-md-2', 'b/*.md'], ['prompt-8-data', 'x/data.jsonl'], ['idp-4+4+8', undefined]]);
    assert.deepEqual(parseMethods(['none', 'prompt:8', 'prompt:32', 'concat', 'idp', 'lora:4']).map((x) => x.id), ['none', 'prompt-8', 'prompt-32', 'concat-8+32', 'idp-8+32', 'lora-r4']);
    // Fig. 6: several banks in one study
    assert.deepEqual(parseMethods(['prompt:2', 'prompt:4', 'prompt:8', 'idp', 'idp:2+4', 'idp:8']).map((x) => [x.id, x.subset]),
      [['prompt-2', undefined], ['prompt-4', undefined], ['prompt-8', undefined], ['idp-2+4+8', undefined], ['idp-2+4', [2, 4]], ['idp-8', [8]]]);
    await expectIdpError(() => parseMethods(['prompt:2', 'idp:2+3']), 'INPUT', undefined, /no prompt:3/);
    await expectIdpError(() => parseMethods(['prompt:2', 'prompt:4', 'idp', 'idp:2+4']), 'INPUT', undefined, /twice.*every prompt:N/);
    await expectIdpError(() => parseMethods(['prompt:2@a.txt', 'prompt:2@b.txt', 'idp:2']), 'INPUT', undefined, /2 prompts have 2 tokens/);
    await expectIdpError(() => parseMethods(['prompt:2', 'idp:2+2']), 'INPUT', undefined, /distinct/);
  });
});
