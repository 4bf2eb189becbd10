// `idp compress` and `idp ppl`.
//
// compress: progress per layer on stderr; Ctrl-C (SIGINT/SIGTERM) cancels between steps and leaves no
// output folder (exit 130); a summary line per module with --verbose; --json prints the result; the
// summary says which GPTQ loaders (AutoGPTQ, GPTQModel, transformers) read the folder.
// ppl: perplexity with the GPTQ papers' convention (eval/perplexity.ts).

import { Command, InvalidArgumentError, Option } from 'commander';
import { compressModel, CompressMethod } from '../engine/compress/compress';
import { QuantBits } from '../engine/compress/gptq-format';
import { describeLoaders } from '../engine/compress/gptq-loaders';
import { loadModel } from '../engine/models/load';
import { CausalLM } from '../engine/runtime/lm';
import { evalCorpus, perplexity } from '../engine/eval/perplexity';
import { inputError } from '../engine/errors';
import { defaultModelPath } from '../engine/defaults';
import { AdaptedLM, loadAdapter } from '../engine/train/adapted';
import { reportError } from './errors';
import { cancellation, collect, int, threadsFor } from './options';

const CANCEL_MESSAGE = '\nidp: cancelling (nothing will be written)…\n';

function pattern(v: string): { n: number; m: number } {
  const r = /^(\d+):(\d+)$/.exec(v);
  if (!r) throw new InvalidArgumentError('--pattern must look like N:M, e.g. 2:4');
  return { n: Number(r[1]), m: Number(r[2]) };
}

interface CompressFlags {
  model?: string; method: CompressMethod; bits?: number; groupSize: number; actOrder?: boolean; staticGroups?: boolean; sym?: boolean;
  trueSequential: boolean; damp: number; sparsity?: number; pattern?: { n: number; m: number }; calib: string[]; samples: number;
  seqlen?: number; seed: number; out: string; dense?: boolean; format: 'gptq' | 'gptq_v2'; skipUnfit?: boolean; overwrite?: boolean;
  threads?: number; json?: boolean; verbose?: boolean; quantizeHead?: boolean; headBits?: number;
}

async function runCompress(f: CompressFlags): Promise<void> {
  const c = cancellation(CANCEL_MESSAGE);
  try {
    if (f.bits !== undefined && ![2, 3, 4, 8].includes(f.bits)) throw inputError(`--bits must be 2, 3, 4 or 8, got ${f.bits}`);
    const calib = f.calib.length === 1 && f.calib[0] === 'model' ? 'model' as const : f.calib.length ? f.calib : undefined;
    const r = await compressModel(f.model ?? defaultModelPath(), {
      method: f.method, out: f.out, bits: f.bits as QuantBits | undefined, groupSize: f.groupSize, sym: f.sym, actOrder: !!f.actOrder,
      staticGroups: !!f.staticGroups, trueSequential: f.trueSequential, dampPercent: f.damp, sparsity: f.sparsity, pattern: f.pattern,
      calib, samples: f.samples, seqlen: f.seqlen, seed: f.seed, output: f.dense ? 'dense' : 'gptq', format: f.format,
      quantizeHead: !!f.quantizeHead, headBits: f.headBits as 4 | 8 | undefined,
      skipUnfit: !!f.skipUnfit, overwrite: !!f.overwrite, threads: f.threads, isCancelled: c.isCancelled,
      onProgress: (p) => { if (p.stage !== 'module' || f.verbose) process.stderr.write(`[${p.stage}] ${p.message}\n`); },
    });
    if (r.cancelled) {
      process.stderr.write('idp: cancelled; no output written\n');
      process.exitCode = 130;
      return;
    }
    if (f.json) {
      process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    } else {
      const q = r.modules.filter((x) => x.quantized).length;
      process.stdout.write(`${r.out}: ${r.modules.length} layers compressed (${q} quantized${r.skipped.length ? `, ${r.skipped.length} left unquantized` : ''}) ` +
        `in ${r.totalSeconds.toFixed(1)} s\n`);
      if (r.loaders) process.stdout.write(`GPTQ loaders: ${describeLoaders(r.loaders)}\n`);
    }
  } catch (e) {
    process.exitCode = reportError(e);
  } finally {
    c.dispose();
  }
}

interface PplFlags { model?: string; tokenizer?: string; adapter?: string; data: string[]; seqlen?: number; maxWindows?: number; batch: number; dequantize?: boolean; threads?: number; json?: boolean }

async function runPpl(f: PplFlags): Promise<void> {
  const c = cancellation(CANCEL_MESSAGE);
  try {
    if (!f.data.length) throw inputError('give the evaluation text with --data FILE (WikiText-2 raw text, C4 JSONL, …)');
    const m = await loadModel(f.model ?? defaultModelPath(), { tokenizer: f.tokenizer });
    if (!m.tokenizer) throw inputError('the model has no tokenizer (give --tokenizer)', m.source);
    const threads = threadsFor(m, f.threads);
    const lm = f.adapter ? new AdaptedLM(loadAdapter(m, f.adapter), { threads })   // soft prompt, prefix or LoRA (PEFT folder)
      : new CausalLM(m, { threads, graph: f.dequantize ? { dequantize: true } : undefined });
    const corpus = evalCorpus(f.data, m.tokenizer, m.config);
    const r = await perplexity(lm, corpus.ids, {
      seqlen: f.seqlen, maxWindows: f.maxWindows ?? corpus.maxWindows, batch: f.batch, isCancelled: c.isCancelled,
      onProgress: f.json || !process.stderr.isTTY ? undefined : (d, n) => { if (d === n || d % 16 === 0) process.stderr.write(`\r[ppl] ${d}/${n} windows`); },
    });
    if (!f.json && process.stderr.isTTY) process.stderr.write('\n');
    if (r.cancelled) { process.stderr.write('idp: cancelled\n'); process.exitCode = 130; return; }
    if (f.json) process.stdout.write(JSON.stringify({ ...r, files: corpus.files }) + '\n');
    else process.stdout.write(`perplexity ${r.ppl.toFixed(4)} (${r.windows} windows × ${r.seqlen} tokens, mean NLL ${r.nll.toFixed(4)})\n`);
  } catch (e) {
    process.exitCode = reportError(e);
  } finally {
    c.dispose();
  }
}

export function registerCompressCommands(program: Command): void {
  program.command('compress')
    .description('compress a model (GPTQ, SparseGPT, RTN, magnitude) into a GPTQ-layout folder')
    .option('--model <path>', 'float model: HF folder, .gguf or llama2.c .bin (default: the embedded default model)')
    .addOption(new Option('--method <m>', 'compression method').choices(['gptq', 'rtn', 'sparsegpt', 'magnitude']).makeOptionMandatory())
    .option('--bits <b>', 'quantization bits: 2, 3, 4 or 8 (sparsegpt: joint quantization)', int('--bits', 1))
    .option('--group-size <g>', 'columns per quantization group (-1: per channel)', (v) => { const n = Number(v); if (!(n === -1 || (Number.isInteger(n) && n >= 1))) throw new InvalidArgumentError('--group-size must be -1 or a positive integer'); return n; }, 128)
    .option('--act-order', 'GPTQ: process columns by decreasing activation (desc_act)')
    .option('--static-groups', 'GPTQ: choose group grids before any update (with --act-order)')
    .option('--sym', 'symmetric quantization (the default: every GPTQ loader reads it)')
    .option('--no-sym', 'asymmetric quantization (GPTQModel reads it only with --format gptq_v2, AutoGPTQ only without)')
    .option('--no-true-sequential', 'GPTQ/SparseGPT: calibrate all layers of a block on the uncompressed block')
    .option('--damp <p>', 'dampening, fraction of the mean Hessian diagonal', (v) => { const n = Number(v); if (!(n >= 0)) throw new InvalidArgumentError('--damp must be ≥ 0'); return n; }, 0.01)
    .option('--sparsity <p>', 'unstructured sparsity in [0, 1)', (v) => { const n = Number(v); if (!(n >= 0 && n < 1)) throw new InvalidArgumentError('--sparsity must be in [0, 1)'); return n; })
    .option('--pattern <N:M>', 'N:M sparsity, e.g. 2:4', pattern)
    .option('--calib <file>', 'calibration text: C4 JSONL, WikiText, text files, a quoted glob, or "model" (repeatable)', collect, [] as string[])
    .option('--samples <n>', 'calibration samples', int('--samples', 1), 128)
    .option('--seqlen <n>', 'calibration sequence length (default min(2048, context))', int('--seqlen', 2))
    .option('--seed <s>', 'calibration sampling seed', int('--seed', 0), 0)
    .requiredOption('--out <dir>', 'output folder (written atomically)')
    .option('--dense', 'write a float model with the compressed (fake-quantized) weights instead of the GPTQ layout')
    .addOption(new Option('--format <f>', 'zero-point layout').choices(['gptq', 'gptq_v2']).default('gptq'))
    .option('--quantize-head', 'quantize the output projection too (RTN; stored as lm_head.qweight …; a tied embedding is stored once, quantized)')
    .addOption(new Option('--head-bits <b>', 'bits of the quantized head (default: --bits when 4 or 8, else 4)').choices(['4', '8']).argParser(Number))
    .option('--skip-unfit', 'leave layers the GPTQ layout cannot store (in/out × bits not whole words) unquantized')
    .option('--overwrite', 'replace a non-empty output folder')
    .option('--threads <n>', 'ORT intra-op threads', int('--threads', 1))
    .option('--verbose', 'print every layer\'s reconstruction error')
    .option('--json', 'print the result (per-module errors, timings) as JSON')
    .action(runCompress);

  program.command('ppl')
    .description('perplexity on WikiText-2 / C4 as the GPTQ papers compute it (non-overlapping windows, exp of mean NLL)')
    .option('--model <path>', 'HF folder (float or GPTQ), .gguf or llama2.c .bin')
    .option('--tokenizer <path>', 'tokenizer file')
    .option('--data <file>', 'evaluation text: raw text (WikiText-2 test joined) or JSONL with "text" (C4); repeatable', collect, [] as string[])
    .option('--seqlen <n>', 'window length (default min(2048, context))', int('--seqlen', 2))
    .option('--max-windows <n>', 'score at most this many windows (C4 JSONL default 256)', int('--max-windows', 1))
    .option('--batch <n>', 'windows per forward pass', int('--batch', 1), 1)
    .option('--adapter <dir>', 'PEFT adapter folder applied to the model (prompt tuning, prefix tuning, LoRA)')
    .option('--dequantize', 'GPTQ models: run fp32 on dequantized weights instead of MatMulNBits')
    .option('--threads <n>', 'ORT intra-op threads', int('--threads', 1))
    .option('--json', 'print JSON')
    .action(runPpl);
}
