// The model card (models/default/README.md) and the build record it is written from
// (models/default/training.json): corpus recipe with sizes, tokenizer, architecture, training settings,
// tokens seen, held-out and training loss and perplexity, samples, machine, commands.

import type { ModelConfig } from '../../src/engine/models/config';
import type { PackageStats } from './corpus';
import { CORPUS_RECIPE, HELD_OUT_MOD, PART_CHARS } from './corpus';
import { FIM_CHUNK_CHARS } from './fim';
import type { DefaultModelShape } from './init';
import type { FimProbe } from './evaluate';

export interface Sample { prompt: string; completion: string; fim?: boolean; finish?: string; sampling?: string }

export interface BuildRecord {
  recipe: {
    vocabSize: number; shape: DefaultModelShape; seqLen: number; batchSize: number; tokens: number; lr: number; minLrRatio: number;
    warmup: number; weightDecay: number; beta2: number; clip: number; fimRate: number; seed: number; evalBlocks: number;
  };
  config: ModelConfig;
  params: number;
  corpus: { packages: PackageStats[]; skipped: Array<{ file: string; why: string }>; trainChars: number; heldOutChars: number };
  tokenizer: { vocab: number; merges: number; words: number; trainCharsPerToken: number; heldOutCharsPerToken: number };
  data: { trainTokens: number; trainBlocks: number; fimDocs: number; plainDocs: number; chunks: number; heldOutTokens: number; evalBlocks: number };
  result: {
    steps: number; tokensSeen: number; tokensPerSec: number; trainSeconds: number; trainCalls: number;
    initialHeldOutLoss: number; heldOutLoss: number; trainLoss: number; trainLossSteps: number;
  };
  samples: Sample[];
  fim: FimProbe;
  machine: { cpu: string; cores: number; node: string; threads: number };
  seconds: Record<string, number>;
  curve: Array<{ step: number; tokens: number; loss: number }>;
}

const n = (x: number) => x.toLocaleString('en-US');
const mb = (x: number) => (x / 1e6).toFixed(2);
const fence = (s: string) => '```\n' + s.replace(/```/g, '`\u200b``') + '\n```';
const show = (s: string) => s.replace(/<\|(fim_prefix|fim_suffix|fim_middle|endoftext)\|>/g, '⟨$1⟩');

/** What the FIM probe (evaluate.ts) says, in words and figures. */
function fimVerdict(f: FimProbe): string {
  const uses = f.nllFim < f.nllLeftToRight - 0.05;
  return `How much FIM it learned, on ${f.examples} held-out chunks cut the same way (\`scripts/default-model/evaluate.ts\`): the
middle's loss is ${f.nllFim.toFixed(3)} nats per token with prefix and suffix in FIM layout vs ${f.nllLeftToRight.toFixed(3)} from the prefix
alone, and after the true middle \`<|endoftext|>\` gets log-probability ${f.eotLogProb.toFixed(2)} (mean rank ${f.eotRank.toFixed(0)}).
${uses
    ? 'The suffix helps: the model uses FIM, weakly.'
    : 'So at this size and token budget **the model has not learned to use the suffix** nor to end a middle reliably: the FIM tokens and layout are in place (the extension already lays out FIM prompts for any model that has these tokens), the skill needs a bigger budget.'}`;
}

export function modelCard(r: BuildRecord): string {
  const c = r.config;
  const s = r.recipe;
  const res = r.result;
  const steps = res.steps;
  const warmupSteps = Math.round(s.warmup * steps);
  const pkgRows = r.corpus.packages.map((p) =>
    `| ${p.name}@${p.installed}${p.installed !== p.version ? ` (recipe: ${p.version})` : ''} | ${CORPUS_RECIPE.find((x) => x.name === p.name && x.what === p.what)?.include.map((g) => `\`${g}\``).join(', ')} | ${p.what} | ${p.files} | ${mb(p.trainChars)} | ${mb(p.heldOutChars)} |`);
  const skipped = r.corpus.skipped.length
    ? r.corpus.skipped.map((x) => `- \`${x.file}\`: ${x.why}`).join('\n')
    : '- none';
  const samples = r.samples.map((x) => x.fim
    ? `Fill-in-the-middle, greedy (prompt shown with ⟨…⟩ for the special tokens; generation stops at ⟨endoftext⟩; finish: ${x.finish}):\n\n${fence(show(x.prompt))}\n\nmiddle:\n\n${fence(x.completion)}`
    : `${x.sampling ? `Sampled (${x.sampling})` : 'Greedy'}:\n\n${fence(x.prompt + x.completion)}`).join('\n\n');
  return `# IDP Lab default model (code, ${(r.params / 1e6).toFixed(2)}M parameters)

A small Llama-architecture language model of TypeScript / JavaScript code, trained from scratch by IDP Lab's
own engine (ONNX graphs with reverse-mode autodiff, AdamW in JS, onnxruntime-node on the CPU) on source text
that ships in the npm packages this project installs, with a byte-level BPE tokenizer the project trains
itself. It is the default model of \`npm run demo\`, the \`idp\` CLI and the VS Code extension — so they work on
a fresh machine without downloads — and the fixture of the fast tests. It is a toy: it writes plausible
TypeScript-looking text, not correct programs.

Rebuild it (10–20 minutes on 2 shared CPU cores; the same seed, package versions and thread count give the
same weights on the same CPU — two builds here were bit-identical — and may differ in the last bits on
another; Ctrl-C keeps a checkpoint and the same command resumes):

\`\`\`sh
npm ci
npm run train:default-model        # → models/default/ (this folder), written atomically
\`\`\`

Use it explicitly: \`idp generate --model models/default --prompt "export function "\`.

## Architecture

| field | value |
| --- | --- |
| architecture | \`LlamaForCausalLM\` (RMSNorm, rotary positions θ = ${c.ropeTheta}, SwiGLU MLP, tied input/output embeddings) |
| parameters | ${n(r.params)} (float32, ${mb(r.params * 4)} MB) |
| layers × hidden | ${c.numLayers} × ${c.hiddenSize} (MLP ${c.intermediateSize}) |
| attention | ${c.numHeads} query heads, ${c.numKvHeads} key/value heads (GQA), head size ${c.headDim} |
| context | ${c.maxPositions} tokens (trained at ${s.seqLen}) |
| vocabulary | ${n(c.vocabSize)}; BOS = EOS = \`<\\|endoftext\\|>\` (id ${c.bosTokenId}) |

Files: \`config.json\`, \`model.safetensors\`, \`tokenizer.json\`, \`tokenizer_config.json\` (Hugging Face layout,
loadable by transformers), \`training.json\` (everything on this page, machine-readable, with the loss curve).

## Tokenizer

Byte-level BPE (GPT-2 scheme: GPT-2's pre-tokenization pattern, 256 byte symbols, so any text encodes and
decodes exactly) trained by \`src/engine/tokenizers/bpe-train.ts\` on the training split below: ${n(r.tokenizer.merges)}
merges learned by pair frequency from ${n(r.tokenizer.words)} distinct pre-tokens, ties broken by the smaller
(left id, right id). ${r.tokenizer.trainCharsPerToken.toFixed(2)} characters per token on the training text,
${r.tokenizer.heldOutCharsPerToken.toFixed(2)} on the held-out text.

Special tokens: \`<|endoftext|>\` (0, BOS/EOS and document separator), \`<|fim_prefix|>\` (1), \`<|fim_middle|>\` (2),
\`<|fim_suffix|>\` (3).

## Corpus

Source files of npm packages pinned by this repository's package-lock.json, read from \`node_modules\`
(recipe: \`scripts/default-model/corpus.ts\`): package order as below, files in path order, CRLF → LF. Files
are cut at line boundaries into parts of about ${n(PART_CHARS)} characters; a part is **held out** when
FNV-1a("package/path#part") mod ${HELD_OUT_MOD} = 0 (≈ ${Math.round(100 / HELD_OUT_MOD)} %, spread over the packages, never trained on).
Sizes in millions of characters:

| package | taken | what | files | train | held out |
| --- | --- | --- | --- | --- | --- |
${pkgRows.join('\n')}
| **total** | | | ${r.corpus.packages.reduce((a, p) => a + p.files, 0)} | ${mb(r.corpus.trainChars)} | ${mb(r.corpus.heldOutChars)} |

Left out (empty, binary, minified or generated, or containing a special-token string):

${skipped}

**Fill-in-the-middle: yes.** The training parts are cut into line-aligned chunks of about ${n(FIM_CHUNK_CHARS)} characters; each
chunk becomes, with probability ${s.fimRate} (seeded), a FIM document in PSM order
\`<|fim_prefix|>prefix<|fim_suffix|>suffix<|fim_middle|>middle\` followed by the next document's
\`<|endoftext|>\`, the middle being the rest of a line or up to two more lines from a random character
(\`scripts/default-model/fim.ts\`): ${n(r.data.fimDocs)} FIM documents of ${n(r.data.chunks)} chunks. The held-out text is plain
code (no FIM).

${fimVerdict(r.fim)}

Tokens: ${n(r.data.trainTokens)} training tokens (${n(r.data.trainBlocks)} blocks of ${s.seqLen}), ${n(r.data.heldOutTokens)} held-out tokens.

## Training

\`--method full\` with the engine's trainer (\`runTraining\`): every weight from a fresh initialisation
(N(0, 0.02²), residual output projections scaled by 1/√(2·layers), seed ${s.seed}); rows of ${s.seqLen} tokens, batch ${s.batchSize}, ${n(steps)} steps;
AdamW (β = 0.9, ${s.beta2}; weight decay ${s.weightDecay} on matrices), peak learning rate ${s.lr}, ${warmupSteps} warmup steps then
cosine decay to ${+(s.lr * s.minLrRatio).toPrecision(3)}; gradient clipping at norm ${s.clip}. Data order: a seeded permutation of the training
blocks (each block seen at most once: ${(res.tokensSeen / r.data.trainTokens).toFixed(2)} epochs).

| figure | value |
| --- | --- |
| tokens seen | ${n(res.tokensSeen)} |
| held-out loss at initialisation | ${res.initialHeldOutLoss.toFixed(4)} (ln ${c.vocabSize} = ${Math.log(c.vocabSize).toFixed(4)}) |
| **final held-out loss / perplexity** | **${res.heldOutLoss.toFixed(4)} / ${Math.exp(res.heldOutLoss).toFixed(2)}** (${n(r.data.evalBlocks)} blocks of ${s.seqLen} evenly spread over the held-out stream; per token) |
| final training loss / perplexity | ${res.trainLoss.toFixed(4)} / ${Math.exp(res.trainLoss).toFixed(2)} (mean of the last ${res.trainLossSteps} steps, FIM documents included) |
| training speed | ${n(Math.round(res.tokensPerSec))} tokens/s; ${Math.round(res.trainSeconds)} s of training with the evaluations${res.trainCalls > 1 ? ` (over ${res.trainCalls} resumed runs)` : ''} |
| machine | ${r.machine.cpu}, ${r.machine.cores} cores (shared), ${r.machine.threads} ORT thread(s), Node ${r.machine.node} |
| build time | corpus ${r.seconds.corpus.toFixed(1)} s, tokenizer ${r.seconds.tokenizer.toFixed(1)} s, data ${r.seconds.data.toFixed(1)} s, training ${Math.round(res.trainSeconds)} s, samples and FIM probe ${(r.seconds.samples + r.seconds.fimProbe).toFixed(1)} s |

## Samples

${samples}

## License and intended use

The training text comes from the packages listed above (TypeScript, Playwright and @huggingface/tokenizers:
Apache-2.0; protobuf.js: BSD-3-Clause; the others: MIT). The weights are for demonstrations and tests of IDP
Lab (compression, prompt recovery, inline completion); they are not a useful code assistant.
`;
}
