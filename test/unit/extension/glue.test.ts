// The extension's editor-free logic: progress text, the lab folder's atomic writes, recent lists,
// completion prompts within a context budget.

import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { eta, formatDuration, IncrementTracker, progressMessage } from '../../../src/extension/progress-format';
import { Lab, runId, writeFileAtomic } from '../../../src/extension/lab';
import { modelLabel, pushRecent } from '../../../src/extension/paths';
import { completionIds, findFimTokens } from '../../../src/engine/fim';
import type { Tokenizer } from '../../../src/engine/tokenizers/tokenizer';
import { tmpDir } from '../../helpers/data';

describe('extension glue: progress text', () => {
  it('formats percent, tokens/s, ETA and a phase', () => {
    assert.equal(progressMessage({ fraction: 0.25, tokensPerSecond: 1234.4, message: 'layer 3/12' }, 3000), '25% · 1234 tok/s · ETA 9 s · layer 3/12');
    assert.equal(progressMessage({ fraction: 0.5, tokensPerSecond: 12.345 }, 100), '50% · 12.3 tok/s', 'no ETA from too little time');
    assert.equal(progressMessage({}, 1000), '');
    assert.equal(progressMessage({ fraction: 7 }, 1000), '100%');
  });
  it('ETA needs progress to go on', () => {
    assert.equal(eta(undefined, 5000), undefined);
    assert.equal(eta(0, 5000), undefined);
    assert.equal(eta(1, 5000), undefined);
    assert.equal(eta(0.5, 4000), 4000);
    assert.equal(formatDuration(65_000), '1 min 5 s');
    assert.equal(formatDuration(3_725_000), '1 h 2 min');
    assert.equal(formatDuration(NaN), '?');
  });
  it('turns absolute fractions into increments that never go back or past 100', () => {
    const t = new IncrementTracker();
    assert.equal(t.increment(0.1), 10);
    assert.equal(t.increment(0.05), undefined);
    assert.equal(t.increment(0.3), 20);
    assert.equal(t.increment(undefined), undefined);
    assert.equal(t.increment(NaN), undefined);
    assert.equal(t.increment(2), 70);
    assert.equal(t.increment(1), undefined);
  });
});

/**
 * Runs writeFileAtomic(file, 'N'.repeat(n)) in a child process that is SIGKILLed in the middle of
 * the write: its fs.writeFileSync writes the first half of the bytes, then the process kills itself
 * (a crash or an OOM kill at the worst moment). Returns how the child ended.
 */
function killedMidWrite(file: string, n: number): string | null {
  const lab = require.resolve('../../../src/extension/lab');
  const child = `
    const fs = require('fs');
    const write = fs.writeFileSync;
    fs.writeFileSync = (f, data, ...rest) => {
      write(f, data.slice(0, data.length >> 1), ...rest);
      process.kill(process.pid, 'SIGKILL');
    };
    require(${JSON.stringify(lab)}).writeFileAtomic(${JSON.stringify(file)}, 'N'.repeat(${n}));`;
  return spawnSync(process.execPath, ['-e', child], { encoding: 'utf8' }).signal;
}

describe('extension glue: lab folder', () => {
  it('writes files atomically and leaves no temporary file', () => {
    const d = tmpDir('idp-lab-');
    const f = path.join(d, 'a', 'b.json');
    writeFileAtomic(f, '{"x":1}');
    writeFileAtomic(f, '{"x":2}');
    assert.equal(fs.readFileSync(f, 'utf8'), '{"x":2}');
    assert.deepEqual(fs.readdirSync(path.dirname(f)), ['b.json']);
  });
  it('a writer killed mid-write leaves the old file whole, or no file; never half of the new one', () => {
    const d = tmpDir('idp-lab-');
    const f = path.join(d, 'b.json');
    writeFileAtomic(f, '{"x":1}');
    assert.equal(killedMidWrite(f, 4096), 'SIGKILL');
    assert.equal(fs.readFileSync(f, 'utf8'), '{"x":1}', 'the old content, whole');
    const fresh = path.join(d, 'c.json');
    assert.equal(killedMidWrite(fresh, 4096), 'SIGKILL');
    assert.equal(fs.existsSync(fresh), false, 'no file where there was none');
    // what the dead writer left is a staging file beside the target, never the target's name
    assert.ok(fs.readdirSync(d).filter((n) => n !== 'b.json').every((n) => n.startsWith('.')), fs.readdirSync(d).join(' '));
  });
  it('commits a run folder whole, lists runs newest first, and leaves nothing on failure', () => {
    const lab = new Lab(path.join(tmpDir('idp-lab-'), '.idp'));
    const a = lab.commitRun('generate', { text: 'one' }, { 'out.txt': 'hello' });
    assert.equal(fs.readFileSync(path.join(a, 'out.txt'), 'utf8'), 'hello');
    const b = lab.commitRun('benchmark', { text: 'two' });
    assert.notEqual(a, b);
    assert.deepEqual(lab.listRuns().map((r) => r.kind).sort(), ['benchmark', 'generate']);
    assert.deepEqual(lab.listRuns('generate').map((r) => r.text), ['one']);
    assert.throws(() => lab.commitRun('generate', {}, { '../escape': 'x' }), /bad run file name/);
    assert.throws(() => lab.commitRun('generate', {}, { 'run.json': 'x' }), /bad run file name/);
    assert.equal(fs.readdirSync(lab.runsDir).filter((n) => n.startsWith('.')).length, 0, 'no partial folder left');
    assert.equal(lab.listRuns().length, 2);
  });
  it('sweeps leftovers of interrupted writes and skips incomplete runs', () => {
    const lab = new Lab(path.join(tmpDir('idp-lab-'), '.idp'));
    // leftovers of a process that has exited (names as the extension wrote them before start times were recorded)
    const dead = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
    fs.mkdirSync(path.join(lab.runsDir, `.x.${dead}-0123abcd.tmp`), { recursive: true });
    fs.mkdirSync(path.join(lab.runsDir, 'broken'));
    fs.writeFileSync(path.join(lab.root, `.y.json.${dead}-4567cdef.tmp`), '');
    const live = lab.stageRun('generate');   // this process's, still being written: kept
    assert.equal(lab.listRuns().length, 0);
    assert.equal(lab.sweep(), 2);
    assert.deepEqual(fs.readdirSync(lab.runsDir).sort(), [path.basename(live.dir), 'broken']);
  });
  it('run ids sort by time and are safe file names', () => {
    assert.equal(runId('gen/../x', new Date(Date.UTC(2025, 0, 31, 12, 0, 0))), '2025-01-31T12-00-00-000Z-gen____x');
  });
});

describe('extension glue: paths', () => {
  it('keeps a short deduplicated recent list', () => {
    assert.deepEqual(pushRecent(['/a', '/b', '/c'], '/b'), ['/b', '/a', '/c']);
    assert.deepEqual(pushRecent(['/a', '/b'], '/c', 2), ['/c', '/a']);
    assert.equal(modelLabel('/x/y/stories260K.gguf').label, 'stories260K');
  });
});

/** A word-level tokenizer over a fixed vocabulary, with optional FIM pieces. */
function wordTokenizer(extra: string[] = []): Tokenizer {
  const vocab = ['<s>', '</s>', ...extra, ...'abcdefghijklmnopqrstuvwxyz'.split('')];
  return {
    vocabSize: vocab.length, bosId: 0, eosId: 1,
    encode: (t) => [...t].filter((c) => vocab.includes(c)).map((c) => vocab.indexOf(c)),
    decode: (ids) => ids.map((i) => vocab[i]).join(''),
    idToPiece: (id) => vocab[id],
  };
}

describe('completion prompts (fill-in-the-middle)', () => {
  it('finds FIM tokens in any of the usual spellings, and none where there are none', () => {
    assert.equal(findFimTokens(wordTokenizer()), undefined);
    assert.deepEqual(findFimTokens(wordTokenizer(['<fim_prefix>', '<fim_middle>', '<fim_suffix>'])), { template: 'starcoder', order: 'psm', prefix: 2, suffix: 4, middle: 3 });
    assert.deepEqual(findFimTokens(wordTokenizer(['<|fim_prefix|>', '<|fim_suffix|>', '<|fim_middle|>'])), { template: 'qwen', order: 'psm', prefix: 2, suffix: 3, middle: 4 });
    assert.equal(findFimTokens(wordTokenizer(['<fim_prefix>', '<fim_suffix>'])), undefined, 'an incomplete set is no FIM');
  });
  it('lays out prefix-suffix-middle and cuts the start of the prefix and the end of the suffix to fit', () => {
    const tok = wordTokenizer(['<fim_prefix>', '<fim_suffix>', '<fim_middle>']);
    const fim = findFimTokens(tok)!;
    const dec = (ids: number[]) => ids.map((i) => tok.idToPiece!(i)).join('');
    assert.equal(dec(completionIds(tok, fim, 'abc', 'xyz', 100, 0)), '<s><fim_prefix>abc<fim_suffix>xyz<fim_middle>');
    // budget 10: BOS + 3 FIM tokens leave 6; the suffix gets at most half
    assert.equal(dec(completionIds(tok, fim, 'abcdefgh', 'uvwxyz', 10, 0)), '<s><fim_prefix>fgh<fim_suffix>uvw<fim_middle>');
    // a short prefix leaves the rest to the suffix (up to half)
    assert.equal(dec(completionIds(tok, fim, 'a', 'uvwxyz', 10, 0)), '<s><fim_prefix>a<fim_suffix>uvw<fim_middle>');
    assert.equal(completionIds(tok, fim, 'abcdefgh', 'uvwxyz', 10, 0).length, 10);
  });
  it('without FIM tokens, completes the end of the prefix', () => {
    const tok = wordTokenizer();
    assert.equal(tok.decode(completionIds(tok, undefined, 'abcdefgh', 'xyz', 4, 0)), '<s>fgh');
    assert.equal(tok.decode(completionIds(tok, undefined, 'ab', 'xyz', 4)), 'ab');
  });
});
