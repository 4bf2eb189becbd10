// The architecture registry (src/engine/models/arch/): every family-specific decision lives in a family
// file, and nothing outside src/engine/models/arch/ compares architecture names. The first test scans the
// source tree for such comparisons, so a branch added elsewhere fails here with its file and line; the
// others check that each family's answers agree with its own weight list.

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { FAMILIES, familyForModelType, ggufArchitectures, layerPrefixOf, parseLayerWeight } from '../../../src/engine/models/arch/registry';
import { LORA_TARGETS } from '../../../src/engine/models/arch/types';
import { parseHfConfig } from '../../../src/engine/models/hf-config';
import { expectedWeights } from '../../../src/engine/models/weights';
import { linearModules } from '../../../src/engine/models/quant/modules';
import { tinyConfig, TinyKind } from '../../helpers/tiny-hf';
import { phi3Config } from '../../helpers/reference-phi3';
import { gemma2Config } from '../../helpers/reference-gemma2';

// out/test/unit/models → the repository root (tests run compiled, sources stay in src/)
const ROOT = path.resolve(__dirname, '..', '..', '..', '..');
const SRC = path.join(ROOT, 'src');
const ARCH_DIR = path.join(SRC, 'engine', 'models', 'arch');

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (/\.tsx?$/.test(e.name)) out.push(p);
  }
  return out;
}

/** Every name an architecture goes by: family names, HF model types, GGUF architectures. */
function architectureNames(): string[] {
  const names = new Set<string>();
  for (const f of FAMILIES) {
    names.add(f.arch);
    for (const t of Object.keys(f.hfModelTypes)) names.add(t);
  }
  for (const a of ggufArchitectures()) names.add(a);
  return [...names];
}

/** Lines of `text` that branch on an architecture's name (comments stripped). */
function architectureBranches(text: string, names: string[]): Array<{ line: number; text: string }> {
  const alt = names.map((n) => n.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&')).join('|');
  const field = String.raw`\b(?:arch|modelType|model_type|hfArchitecture)\b`;
  const str = String.raw`['"\`][^'"\`]*['"\`]`;
  const rules = [
    new RegExp(`${field}\\s*[!=]==?\\s*${str}`),                  // cfg.arch === 'gpt2'
    new RegExp(`${str}\\s*[!=]==?\\s*[\\w.?]*${field}`),          // 'gpt2' === cfg.arch
    new RegExp(`\\bcase\\s+['"\`](?:${alt})['"\`]\\s*:`),           // case 'llama':
    new RegExp(String.raw`\[\s*[\w.?]*\.arch\s*\]`),               // TABLE[m.config.arch]
  ];
  const out: Array<{ line: number; text: string }> = [];
  text.split('\n').forEach((raw, i) => {
    const code = raw.replace(/\/\/.*$/, '').replace(/^\s*\*.*$/, '');
    if (rules.some((r) => r.test(code))) out.push({ line: i + 1, text: raw.trim() });
  });
  return out;
}

describe('architecture registry', () => {
  it('no architecture-name branch outside src/engine/models/arch/ (the rest of the engine asks the registry)', () => {
    const names = architectureNames();
    const found: string[] = [];
    const files = sourceFiles(SRC).filter((f) => !f.startsWith(ARCH_DIR + path.sep));
    assert.ok(files.length > 100, `scanned ${files.length} files under ${SRC}`);
    for (const f of files) {
      for (const b of architectureBranches(fs.readFileSync(f, 'utf8'), names)) found.push(`${path.relative(ROOT, f)}:${b.line}: ${b.text}`);
    }
    assert.deepEqual(found, [], `architecture branches belong in the family files (src/engine/models/arch/):\n${found.join('\n')}`);
  });

  it('the scan catches each kind of branch (and leaves other comparisons alone)', () => {
    const names = architectureNames();
    for (const bad of [
      "if (cfg.arch === 'gpt2') return;", "return m.config.arch !== 'llama';", "x = 'opt' === c.arch;",
      "    case 'llama': return 1;", "const s = SUFFIX[m.config.arch];", "if (c.modelType === 'qwen2') {}",
    ]) assert.equal(architectureBranches(bad, names).length, 1, bad);
    for (const ok of [
      "if (arch === undefined) throw e;", "const arch = process.arch;", "// cfg.arch === 'gpt2' in a comment",
      "if (model === 'llama') return sp;", "case 'silu': return 'silu';",
    ]) assert.deepEqual(architectureBranches(ok, names), [], ok);
  });

  it('each family name, HF model type and GGUF architecture belongs to one family', () => {
    const arches = FAMILIES.map((f) => f.arch);
    assert.equal(new Set(arches).size, arches.length);
    const types = FAMILIES.flatMap((f) => Object.keys(f.hfModelTypes));
    assert.equal(new Set(types).size, types.length, types.join());
    const archNames = FAMILIES.flatMap((f) => Object.values(f.hfModelTypes).flat());
    assert.equal(new Set(archNames).size, archNames.length, archNames.join());
    const gguf = ggufArchitectures();
    assert.equal(new Set(gguf).size, gguf.length);
    for (const t of types) assert.equal(familyForModelType(t)!.family.hfModelTypes[t], familyForModelType(t)!.architectures);
  });

  const configs: Array<[string, Record<string, unknown>]> = [
    ...(['llama', 'mistral', 'qwen2', 'opt', 'opt350', 'gpt2'] as TinyKind[]).map((k): [string, Record<string, unknown>] => [k, tinyConfig(k)]),
    ['phi3', phi3Config({ vocab: 48, hidden: 32, layers: 2, heads: 4, kvHeads: 2, ffn: 40 })],
    ['gemma2', gemma2Config({ vocab: 48, hidden: 32, layers: 2, heads: 4, kvHeads: 2, headDim: 12, ffn: 40 })],
  ];
  it('every family is exercised below', () => {
    assert.deepEqual([...new Set(configs.map(([k, c]) => parseHfConfig(c, `${k}/config.json`).arch))].sort(), FAMILIES.map((f) => f.arch).sort());
  });
  for (const [kind, json] of configs) {
    it(`${kind}: LoRA targets, layer prefix, embedding and linear list agree with the family's weights`, () => {
      const cfg = parseHfConfig(json, `${kind}/config.json`);
      const fam = FAMILIES.find((f) => f.arch === cfg.arch)!;
      const w = expectedWeights(cfg);
      for (const t of Object.keys(fam.loraTargets)) assert.ok((LORA_TARGETS as readonly string[]).includes(t), t);
      for (const s of Object.values(fam.loraTargets)) {
        for (let i = 0; i < cfg.numLayers; i++) assert.ok(w.has(`${layerPrefixOf(cfg, i)}${s}.weight`), `${s} in layer ${i}`);
      }
      const emb = fam.tokenEmbedding(cfg);
      assert.equal(w.get(emb.name)![1], emb.width);
      assert.equal(w.get(emb.name)![0], cfg.vocabSize);
      const head = fam.headWeight(cfg, (n) => w.has(n));
      if (head !== undefined) assert.deepEqual(w.get(head)![0], cfg.vocabSize);
      // every 2-D layer weight is a linear module, in graph order, with [in, out] from the layout
      const mods = linearModules(cfg);
      const twoD = [...w].filter(([n, s]) => s.length === 2 && parseLayerWeight(cfg, n));
      assert.equal(mods.length, twoD.length);
      assert.ok(mods.length >= 4 * cfg.numLayers);
      for (const m of mods) {
        const s = w.get(`${m.name}.weight`)!;
        assert.deepEqual(fam.linearLayout === 'linear' ? [s[1], s[0]] : s, [m.inFeatures, m.outFeatures], m.name);
      }
      assert.ok(w.size >= fam.minTensorsPerLayer * cfg.numLayers);
    });
  }
});
