// FIM prompt formats per family against their published template strings: a real HF tokenizer.json (GPT-2's
// byte-level BPE with each family's marker tokens added as special tokens) encodes the documented format string
// in one go — the tokenizer splits at the markers itself — and completionIds must give exactly those ids.
// Then: 'auto' picks the family the vocabulary has, a named format the model lacks is an INPUT error, and the
// engine service takes the choice and the repository context per request (the embedded default model).
import { strict as assert } from 'assert';
import { dataPath, tmpDir } from '../../helpers/data';
import { DEFAULT_MODEL_DIR } from '../../helpers/default-model';
import { loadTokenizerJson, Tokenizer } from '../../../src/engine/tokenizers';
import { completionIds, FIM_TEMPLATES, findFimTokens, FimTemplateName } from '../../../src/engine/fim';
import { IdpError } from '../../../src/engine/errors';
import { writeGpt2TokenizerJson } from '../tokenizers/fixtures';
import { EngineService } from '../../../src/server/engine-service';

const MARKERS: Record<FimTemplateName, string[]> = {
  qwen: ['<|fim_prefix|>', '<|fim_suffix|>', '<|fim_middle|>', '<|repo_name|>', '<|file_sep|>'],
  starcoder: ['<fim_prefix>', '<fim_suffix>', '<fim_middle>', '<repo_name>', '<file_sep>'],
  deepseek: ['<｜fim▁begin｜>', '<｜fim▁hole｜>', '<｜fim▁end｜>'],
  codellama: ['<PRE>', '<SUF>', '<MID>'],
  codestral: ['[PREFIX]', '[SUFFIX]'],
};

/** The format strings as each family documents them (prefix P, suffix S, repository R, file F). */
const FORMAT: Record<FimTemplateName, (p: string, s: string, repo?: { r: string; f: string }) => string> = {
  qwen: (p, s, w) => `${w ? `<|repo_name|>${w.r}\n<|file_sep|>${w.f}\n` : ''}<|fim_prefix|>${p}<|fim_suffix|>${s}<|fim_middle|>`,
  starcoder: (p, s, w) => `${w ? `<repo_name>${w.r}<file_sep>${w.f}\n` : ''}<fim_prefix>${p}<fim_suffix>${s}<fim_middle>`,
  deepseek: (p, s) => `<｜fim▁begin｜>${p}<｜fim▁hole｜>${s}<｜fim▁end｜>`,
  codellama: (p, s) => `<PRE>${p}<SUF>${s}<MID>`,
  codestral: (p, s) => `[SUFFIX]${s}[PREFIX]${p}`,
};

function tokenizerWith(ctx: Mocha.Context, markers: string[]): Tokenizer {
  const dir = tmpDir();
  return loadTokenizerJson(writeGpt2TokenizerJson(dir, dataPath(ctx, 'models', 'gpt2-tokenizer', 'gpt2_vocab.json'), dataPath(ctx, 'models', 'gpt2-tokenizer', 'gpt2_merges.txt'), markers));
}

const PRE = 'def area(r):\n    return 3.14159 * ';
const SUF = '\n\nprint(area(2))\n';

describe('FIM formats per family (engine/fim)', function () {
  this.timeout(60000);

  for (const t of FIM_TEMPLATES) {
    it(`${t.name} (${t.families}): the ids of its published format string, found by 'auto'`, function () {
      const tok = tokenizerWith(this, MARKERS[t.name]);
      const fim = findFimTokens(tok);
      assert.equal(fim?.template, t.name);
      assert.deepEqual(completionIds(tok, fim, PRE, SUF, 4096), tok.encode(FORMAT[t.name](PRE, SUF)));
      assert.deepEqual(completionIds(tok, fim, PRE, SUF, 4096, 50256), [50256, ...tok.encode(FORMAT[t.name](PRE, SUF))], 'BOS first');
      if (t.repo) {
        const w = { r: 'idp-lab', f: 'src/geometry/area.py' };
        assert.deepEqual(completionIds(tok, fim, PRE, SUF, 4096, undefined, { repo: w.r, path: w.f }), tok.encode(FORMAT[t.name](PRE, SUF, w)), 'repository level');
        // a header longer than a quarter of the budget is left out
        assert.deepEqual(completionIds(tok, fim, PRE, SUF, 40, undefined, { repo: w.r, path: 'x/'.repeat(40) }).slice(0, 1), [fim!.order === 'psm' ? fim!.prefix : fim!.suffix]);
      }
    });
  }

  it('a vocabulary without the repository markers gets the plain form; a cut keeps every marker', function () {
    const tok = tokenizerWith(this, MARKERS.qwen.slice(0, 3));
    const fim = findFimTokens(tok)!;
    assert.equal(fim.repo, undefined);
    assert.deepEqual(completionIds(tok, fim, PRE, SUF, 4096, undefined, { repo: 'r', path: 'f' }), tok.encode(FORMAT.qwen(PRE, SUF)));
    const cut = completionIds(tok, fim, PRE.repeat(50), SUF.repeat(50), 64);
    assert.equal(cut.length, 64);
    assert.equal(cut[0], fim.prefix);
    assert.equal(cut.filter((i) => i === fim.suffix).length, 1);
    assert.equal(cut[63], fim.middle);
  });

  it("'none' completes from the prefix; a named format the vocabulary lacks is an INPUT error naming its tokens", function () {
    const tok = tokenizerWith(this, MARKERS.starcoder);
    assert.equal(findFimTokens(tok, 'none'), undefined);
    assert.equal(findFimTokens(tok, 'starcoder')?.template, 'starcoder');
    assert.throws(() => findFimTokens(tok, 'deepseek'), (e: unknown) => e instanceof IdpError && e.code === 'INPUT' && /<｜fim▁begin｜>/.test(e.message));
  });

  it('the engine service takes the format and the repository per request (default model: qwen markers, no repository ones)', async () => {
    const svc = new EngineService();
    const info = await svc.load({ model: DEFAULT_MODEL_DIR, threads: 1 });
    assert.equal(info.fimTemplate, 'qwen');
    const never = { isCancellationRequested: false };
    const fim = await svc.generate({ fim: { prefix: 'function add(a: number, b: number) {\n  return ', suffix: ';\n}\n' }, maxTokens: 4, temperature: 0 }, never);
    const auto = await svc.generate({ fim: { prefix: 'function add(a: number, b: number) {\n  return ', suffix: ';\n}\n', template: 'auto', repo: 'r', path: 'a.ts' }, maxTokens: 4, temperature: 0 }, never);
    assert.deepEqual(auto.ids, fim.ids);
    const none = await svc.generate({ fim: { prefix: 'function add(a: number, b: number) {\n  return ', suffix: ';\n}\n', template: 'none' }, maxTokens: 4, temperature: 0 }, never);
    const plain = await svc.generate({ prompt: 'function add(a: number, b: number) {\n  return ', maxTokens: 4, temperature: 0 }, never);
    assert.deepEqual(none.ids, plain.ids);
    await assert.rejects(svc.generate({ fim: { prefix: 'x', suffix: '', template: 'codestral' }, maxTokens: 2 }, never), (e: unknown) => e instanceof IdpError && e.code === 'INPUT' && /\[PREFIX\]/.test(e.message));
    await assert.rejects(svc.generate({ fim: { prefix: 'x', suffix: '', template: 'gpt' as never }, maxTokens: 2 }, never), (e: unknown) => e instanceof IdpError && e.code === 'INPUT');
  });
});
