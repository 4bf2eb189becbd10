// Task loaders: every staged task loads with LM_EVAL_TASKS.md's counts and builds the prompts and
// continuations it documents for its first items; the original datasets' JSON/JSONL layouts (written
// here as fixtures, SciQ included) give lm-eval's prompts; bad files are typed errors naming the file.

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { dataDir, dataPath, tmpDir } from '../../helpers/data';
import { expectIdpError } from '../../helpers/tiny-hf';
import { loadPaperTask, parseTaskList, PAPER_TASKS, PaperTask, resolveTaskFile } from '../../../src/engine/eval/tasks';
import { loadBenchTasks } from '../../../src/engine/eval/bench';
import { hellaswagPreprocess } from '../../../src/engine/eval/tasks/hellaswag';
import { removePrefixes } from '../../../src/engine/eval/tasks/webqs';
import type { Doc, McDoc, Task } from '../../../src/engine/eval/tasks/types';

const staged = (ctx: Mocha.Context, name: PaperTask): Task => {
  dataPath(ctx, 'tasks');
  return loadPaperTask(name, resolveTaskFile(name, dataDir()));
};
const asMc = (d: Doc) => d as McDoc & Doc;

describe('bench tasks: the staged files (LM_EVAL_TASKS.md)', function () {
  it('arc_easy / arc_challenge: "Question: …\\nAnswer:" and " " + choice; test split sizes', function () {
    const e = staged(this, 'arc_easy');
    assert.equal(e.docs.length, 2376);
    const d = asMc(e.docs[0]);
    assert.deepEqual(d.contexts, ['Question: Which statement best explains why photosynthesis is the foundation of most food webs?\nAnswer:']);
    assert.equal(d.continuations[0], ' Sunlight is the source of energy for nearly all ecosystems.');
    assert.equal(d.gold, 0);
    assert.equal(asMc(e.docs[1]).gold, 1);
    const c = staged(this, 'arc_challenge');
    assert.equal(c.docs.length, 1172);
    assert.equal(asMc(c.docs[0]).gold, 2);
    assert.deepEqual(c.metrics, ['acc', 'acc_norm']);
  });

  it('piqa: questions from valid.jsonl, gold from valid-labels.lst line by line', function () {
    const t = staged(this, 'piqa');
    assert.equal(t.docs.length, 1838);
    assert.equal(t.files.length, 2);
    const d = asMc(t.docs[0]);
    assert.deepEqual(d.contexts, ['Question: How do I ready a guinea pig cage for it\'s new occupants?\nAnswer:']);
    assert.ok(d.continuations[1].startsWith(' Provide the guinea pig with a cage full of a few inches of bedding made of ripped jeans'));
    assert.deepEqual(t.docs.slice(0, 5).map((x) => asMc(x).gold), [0, 1, 1, 1, 0]);
  });

  it('hellaswag: all 10042 items from the 6-line text form; the 4-item JSONL as given', function () {
    const t = staged(this, 'hellaswag');
    assert.equal(t.docs.length, 10042);
    const d = asMc(t.docs[0]);
    assert.deepEqual(d.contexts, ['Roof shingle removal: A man is sitting on a roof. he']);
    assert.equal(d.gold, 3);
    assert.equal(d.continuations[3], ' starts pulling up roofing on a roof.');
    assert.equal(t.notes.length, 1);
    const small = loadPaperTask('hellaswag', dataPath(this, 'tasks', 'hellaswag', 'hellaswag_small.jsonl'));
    assert.equal(small.docs.length, 4);
    assert.equal(asMc(small.docs[0]).gold, 3);
    assert.equal(asMc(small.docs[0]).continuations[3], ' , the man continues removing the snow on his car.');
  });

  it('lambada_openai: context, " " + last word; loglikelihood with perplexity and acc', function () {
    const t = staged(this, 'lambada_openai');
    assert.equal(t.docs.length, 5153);
    const d = t.docs[0] as Extract<Doc, { type: 'loglikelihood' }>;
    assert.equal(d.continuation, ' signs');
    assert.ok(d.context.endsWith('I don\'t care about') && d.context.startsWith('In my palm is a clear stone'));
    assert.deepEqual(t.metrics, ['perplexity', 'acc']);
  });

  it('winogrande: two contexts, one continuation " " + rest of the sentence', function () {
    const t = staged(this, 'winogrande');
    assert.equal(t.docs.length, 1267);
    const d = asMc(t.docs[0]);
    assert.deepEqual(d.contexts, ['Sarah was a much better surgeon than Maria so Sarah', 'Sarah was a much better surgeon than Maria so Maria']);
    assert.deepEqual(d.continuations, [' always got the easier cases.']);
    assert.equal(d.gold, 1);
    assert.deepEqual(t.metrics, ['acc']);
  });

  it('webqs: qText, answers with prefixes removed, every answer gold, exact_match', function () {
    const t = staged(this, 'webqs');
    assert.equal(t.docs.length, 2032);
    const d = asMc(t.docs[0]);
    assert.deepEqual(d.contexts, ['Question: what does jamaican people speak?\nAnswer:']);
    assert.deepEqual(d.choices, ['Jamaican Creole English Language', 'Jamaican English']);
    assert.deepEqual(d.gold, [0, 1]);
    assert.deepEqual(t.metrics, ['exact_match']);
  });

  it('triviaqa: the staged prompt, aliases as targets, stop at \\n . ,', function () {
    const t = staged(this, 'triviaqa');
    assert.equal(t.docs.length, 3000);
    const d = t.docs[0] as Extract<Doc, { type: 'generate_until' }>;
    assert.equal(d.context, 'Question: Brunswick, Lancastrian and Pearl Pickler are types of which vegetable?\nAnswer:');
    assert.deepEqual(d.until, ['\n', '.', ',']);
    assert.ok(d.targets.includes('Onion') && d.targets.includes('Allium cepa'));
  });

  it('the data folder may be the staged root or its tasks/ folder; sciq is named when missing', async function () {
    const root = dataPath(this, 'tasks');
    assert.equal(resolveTaskFile('piqa', dataDir()), resolveTaskFile('piqa', root));
    await expectIdpError(() => resolveTaskFile('sciq', dataDir()), 'NOT_FOUND', undefined, /sciq=FILE/);
    const specs = parseTaskList('all');
    assert.deepEqual(specs.map((s) => s.name), [...PAPER_TASKS]);
    assert.deepEqual(parseTaskList('lambada,piqa=/x/y.jsonl,lambada'), [{ name: 'lambada_openai' }, { name: 'piqa', path: '/x/y.jsonl' }]);
  });
});

describe('bench tasks: original dataset layouts (fixtures)', () => {
  const dir = tmpDir('idp-tasks-');
  const write = (name: string, text: string | object[]) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, typeof text === 'string' ? text : text.map((o) => JSON.stringify(o)).join('\n') + '\n');
    return f;
  };
  const sciqRows = [
    { question: 'What type of organism is commonly used in preparation of foods such as cheese and yogurt?', distractor3: 'viruses', distractor1: 'protozoa',
      distractor2: 'gymnosperms', correct_answer: 'mesophilic organisms', support: '  Mesophiles grow best in moderate temperature.' },
    { question: 'What is the least dangerous radioactive decay?', distractor3: 'zeta decay', distractor1: 'beta decay', distractor2: 'gamma decay', correct_answer: 'alpha decay', support: '' },
  ];

  it('sciq: the original JSON array and a JSONL export give "{support.lstrip()}\\nQuestion: …\\nAnswer:", gold 3', () => {
    const f = path.join(dir, 'sciq-test.json');
    fs.writeFileSync(f, JSON.stringify(sciqRows, null, 1));
    for (const file of [f, write('sciq.jsonl', sciqRows)]) {
      const t = loadPaperTask('sciq', file);
      assert.equal(t.docs.length, 2);
      const d = asMc(t.docs[0]);
      assert.deepEqual(d.contexts, ['Mesophiles grow best in moderate temperature.\nQuestion: What type of organism is commonly used in preparation of foods such as cheese and yogurt?\nAnswer:']);
      assert.deepEqual(d.choices, ['protozoa', 'gymnosperms', 'viruses', 'mesophilic organisms']);
      assert.equal(d.gold, 3);
      assert.equal(asMc(t.docs[1]).contexts[0], '\nQuestion: What is the least dangerous radioactive decay?\nAnswer:');
    }
    assert.equal(resolveTaskFile('sciq', '/nonexistent', dir + '/sciq-test.json'), f);
  });

  it('arc: HF export (labels 1–4) and AI2 JSONL (5 choices A–E) map answerKey to an index', () => {
    const hf = loadPaperTask('arc_easy', write('arc-hf.jsonl', [{ id: 'x', question: 'Which?', choices: { text: ['a', 'b', 'c', 'd'], label: ['1', '2', '3', '4'] }, answerKey: '3' }]));
    assert.equal(asMc(hf.docs[0]).gold, 2);
    assert.deepEqual(asMc(hf.docs[0]).contexts, ['Question: Which?\nAnswer:']);
    const ai2 = loadPaperTask('arc_challenge', write('arc-ai2.jsonl', [{ id: 'y', question: { stem: 'Pick E', choices: 'ABCDE'.split('').map((l) => ({ text: `t${l}`, label: l })) }, answerKey: 'E' }]));
    assert.equal(asMc(ai2.docs[0]).gold, 4);
    assert.equal(asMc(ai2.docs[0]).continuations.length, 5);
  });

  it('hellaswag original JSONL: lm-eval\'s query (ctx_b capitalised) and preprocess', () => {
    assert.equal(hellaswagPreprocess(' [header] How to clean [title] Rinse it. [step] Dry it. '), ' How to clean. Rinse it. Dry it.');
    const t = loadPaperTask('hellaswag', write('hs.jsonl', [{ activity_label: 'Roof shingle removal', ctx_a: 'A man is sitting on a roof.', ctx_b: 'he MAN', endings: ['a [title] b', 'c', 'd', 'e'], label: '3' }]));
    const d = asMc(t.docs[0]);
    assert.deepEqual(d.contexts, ['Roof shingle removal: A man is sitting on a roof. He man']);
    assert.equal(d.choices[0], 'a. b');
    assert.equal(d.gold, 3);
    assert.deepEqual(t.notes, []);
  });

  it('winogrande {sentence, option1, option2, answer}, lambada {text}, triviaqa HF and original, webqs HF, piqa with label', () => {
    const w = asMc(loadPaperTask('winogrande', write('wg.jsonl', [{ sentence: 'Sarah was a much better surgeon than Maria so _ always got the harder cases.', option1: 'Sarah', option2: 'Maria', answer: '1' }])).docs[0]);
    assert.deepEqual(w.contexts, ['Sarah was a much better surgeon than Maria so Sarah', 'Sarah was a much better surgeon than Maria so Maria']);
    assert.deepEqual([w.continuations, w.gold], [[' always got the harder cases.'], 0]);
    const l = loadPaperTask('lambada_openai', write('lam.jsonl', [{ text: 'he said  hello world' }])).docs[0];
    assert.deepEqual([(l as { context: string }).context, (l as { continuation: string }).continuation], ['he said  hello', ' world']);
    const tq = loadPaperTask('triviaqa', write('tq.jsonl', [{ question: 'Who wrote Hamlet', answer: { aliases: ['Shakespeare', 'W. Shakespeare'], value: 'Shakespeare' } }])).docs[0];
    assert.equal((tq as { context: string }).context, 'Question: Who wrote Hamlet?\nAnswer:');
    const orig = path.join(dir, 'tq-orig.json');
    fs.writeFileSync(orig, JSON.stringify({ Data: [{ Question: 'Capital of France', Answer: { Aliases: ['Paris'], Value: 'Paris' } }], Version: 1 }));
    assert.deepEqual((loadPaperTask('triviaqa', orig).docs[0] as { targets: string[] }).targets, ['Paris']);
    const wq = asMc(loadPaperTask('webqs', write('wq.jsonl', [{ url: 'u', question: 'who?', answers: ['Obama', 'Barack Obama', 'Barack'] }])).docs[0]);
    assert.deepEqual(wq.choices, ['Barack', 'Obama']);
    assert.deepEqual(removePrefixes(['b', 'a', 'ab', 'abc', 'ac']), ['a', 'b']);
    const pq = asMc(loadPaperTask('piqa', write('piqa-hf.jsonl', [{ goal: 'g', sol1: 'x', sol2: 'y', label: 1 }])).docs[0]);
    assert.equal(pq.gold, 1);
  });
});

describe('bench tasks: bad input', () => {
  const dir = tmpDir('idp-tasks-bad-');
  const write = (name: string, text: string) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, text);
    return f;
  };

  it('empty files, missing fields, non-JSON lines, bad golds are FORMAT errors naming the file and item', async () => {
    const empty = write('empty.jsonl', '\n\n');
    await expectIdpError(() => loadPaperTask('arc_easy', empty), 'FORMAT', empty, /empty/);
    const noQ = write('sciq-bad.jsonl', `${JSON.stringify({ question: 'q', distractor1: 'a', distractor2: 'b', distractor3: 'c', correct_answer: 'd', support: '' })}\n{"distractor1":"a"}\n`);
    await expectIdpError(() => loadPaperTask('sciq', noQ), 'FORMAT', noQ, /line 2: missing field "support"/);
    const notJson = write('arc-bad.jsonl', '{"query": "Question: x", "choices": ["a","b"], "gold": 0}\n{oops\n');
    await expectIdpError(() => loadPaperTask('arc_easy', notJson), 'FORMAT', notJson, /line 2 is not JSON/);
    const gold = write('arc-gold.jsonl', '{"query": "Question: x", "choices": ["a","b"], "gold": 2}\n');
    await expectIdpError(() => loadPaperTask('arc_easy', gold), 'FORMAT', gold, /gold 2 is not one of the 2 choices/);
    const key = write('arc-key.jsonl', '{"question": "x", "choices": {"text": ["a","b"], "label": ["A","B"]}, "answerKey": "C"}\n');
    await expectIdpError(() => loadPaperTask('arc_easy', key), 'FORMAT', key, /answerKey "C"/);
    const wg = write('wg-test.jsonl', '{"sentence": "a _ b", "option1": "x", "option2": "y", "answer": ""}\n');
    await expectIdpError(() => loadPaperTask('winogrande', wg), 'FORMAT', wg, /unlabeled/);
    const wq = write('wq.json', '[{"qText": "q", "answers": []}]');
    await expectIdpError(() => loadPaperTask('webqs', wq), 'FORMAT', wq, /item 0: field "answers" has 0 entries/);
    const bad = write('wq2.json', '[1, 2');
    await expectIdpError(() => loadPaperTask('webqs', bad), 'FORMAT', bad, /not valid JSON/);
  });

  it('piqa labels that do not line up, hellaswag text that is not 6-line items, gzip that is not gzip', async () => {
    const q = write('valid.jsonl', '{"goal": "g", "sol1": "a", "sol2": "b"}\n{"goal": "h", "sol1": "a", "sol2": "b"}\n');
    await expectIdpError(() => loadPaperTask('piqa', q), 'FORMAT', q, /no labels file/);
    const lf = write('valid-labels.lst', '0\n');
    await expectIdpError(() => loadPaperTask('piqa', q), 'FORMAT', lf, /1 labels for 2 questions/);
    write('valid-labels.lst', '0\n2\n');
    await expectIdpError(() => loadPaperTask('piqa', q), 'FORMAT', lf, /line 2: label "2"/);
    const hs = write('hs.txt', 'ctx\n1\na\nb\nc\n');
    await expectIdpError(() => loadPaperTask('hellaswag', hs), 'FORMAT', hs, /6-line items/);
    const gz = path.join(dir, 'hs.txt.gz');
    fs.writeFileSync(gz, zlib.gzipSync('ctx\n7\na\nb\nc\nd\n'));
    await expectIdpError(() => loadPaperTask('hellaswag', gz), 'FORMAT', gz, /gold "7"/);
    const fake = write('x.txt.gz', 'plain');
    await expectIdpError(() => loadPaperTask('hellaswag', fake), 'FORMAT', fake, /not a gzip file/);
  });

  it('unknown tasks and missing folders or files', async () => {
    await expectIdpError(() => loadBenchTasks([{ name: 'mmlu' }], { dataDir: dir }), 'INPUT', undefined, /unknown task 'mmlu'/);
    await expectIdpError(() => resolveTaskFile('piqa', path.join(dir, 'nope')), 'NOT_FOUND');
    await expectIdpError(() => resolveTaskFile('piqa', dir, path.join(dir, 'nope.jsonl')), 'NOT_FOUND');
    await expectIdpError(() => loadBenchTasks([{ name: 'text_ppl' }], { dataDir: dir }), 'INPUT', undefined, /--heldout/);
  });
});
