// `idp compress` and `idp ppl`: flags → the compress and ppl jobs' options (engine/jobs/compress.ts, ppl.ts).
//
// compress: progress per layer on stderr; Ctrl-C (SIGINT/SIGTERM) cancels between steps and leaves no
// output folder (exit 130); a summary line per module with --verbose; --json prints the result; the
// summary says which GPTQ loaders (AutoGPTQ, GPTQModel, transformers) read the folder.
// ppl: perplexity with the GPTQ papers' convention (eval/perplexity.ts).

import { Command, InvalidArgumentError, Option } from 'commander';
import { describeLoaders, runCompress, runPpl } from '../engine/index';
import type { CompressMethodName } from '../engine/index';
import { collect, dataSource, int, modelOptions, runCancellable } from './options';

const CANCEL_MESSAGE = '\nidp: cancelling (nothing will be written)…\n';

function pattern(v: string): string {
  if (!/^(\d+):(\d+)$/.test(v)) throw new InvalidArgumentError('--pattern must look like N:M, e.g. 2:4');
  return v;
}

interface CompressFlags {
  model?: string; tokenizer?: string; method: CompressMethodName; bits?: number; groupSize?: number; actOrder?: boolean; staticGroups?: boolean; sym?: boolean;
  trueSequential: boolean; damp: number; sparsity?: number; pattern?: string; calib: string[]; samples: number;
  seqlen?: number; seed: number; out: string; dense?: boolean; format: 'gptq' | 'gptq_v2'; skipUnfit?: boolean; overwrite?: boolean;
  threads?: number; json?: boolean; verbose?: boolean; quantizeHead?: boolean; headBits?: number;
}

async function compress(f: CompressFlags): Promise<void> {
  await runCancellable(CANCEL_MESSAGE, async (signal) => {
    const r = await runCompress({
      model: f.model, tokenizer: f.tokenizer, threads: f.threads, method: f.method, out: f.out, bits: f.bits as 2 | 3 | 4 | 8 | undefined,
      groupSize: f.groupSize, sym: f.sym, actOrder: !!f.actOrder, staticGroups: !!f.staticGroups, trueSequential: f.trueSequential, damp: f.damp,
      sparsity: f.sparsity, pattern: f.pattern, calib: dataSource(f.calib), samples: f.samples, seqlen: f.seqlen, seed: f.seed, dense: !!f.dense,
      format: f.format, quantizeHead: !!f.quantizeHead, headBits: f.headBits as 4 | 8 | undefined, skipUnfit: !!f.skipUnfit, overwrite: !!f.overwrite,
    }, { signal, onProgress: (p) => { if (p.stage !== 'module' || f.verbose) process.stderr.write(`[${p.stage}] ${p.message}\n`); } });
    if (r.cancelled) {
      process.stderr.write('idp: cancelled; no output written\n');
      process.exitCode = 130;
      return;
    }
    if (f.json) {
      process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    } else {
      process.stdout.write(`${r.out}: ${r.modules} layers compressed (${r.quantized} quantized${r.skipped.length ? `, ${r.skipped.length} left unquantized` : ''}) ` +
        `in ${r.seconds.toFixed(1)} s (group size ${r.groupSize === -1 ? 'one per row' : r.groupSize})\n`);
      if (r.loaders) process.stdout.write(`GPTQ loaders: ${describeLoaders(r.loaders)}\n`);
    }
  });
}

interface PplFlags {
  model?: string; tokenizer?: string; adapter?: string; data: string[]; seqlen?: number; maxWindows?: number; batch: number; dequantize?: boolean;
  threads?: number; ep: 'cpu' | 'webgpu' | 'cuda'; json?: boolean;
}

async function ppl(f: PplFlags): Promise<void> {
  await runCancellable(CANCEL_MESSAGE, async (signal) => {
    const tty = !f.json && process.stderr.isTTY;
    const r = await runPpl({
      model: f.model, tokenizer: f.tokenizer, threads: f.threads, ep: f.ep, adapter: f.adapter, data: f.data, seqlen: f.seqlen,
      maxWindows: f.maxWindows, batch: f.batch, dequantize: f.dequantize,
    }, { signal, onProgress: tty ? (p) => { if (p.done === p.windows || p.done % 16 === 0) process.stderr.write(`\r[ppl] ${p.done}/${p.windows} windows`); } : undefined });
    if (tty) process.stderr.write('\n');
    if (r.cancelled) { process.stderr.write('idp: cancelled\n'); process.exitCode = 130; return; }
    if (f.json) process.stdout.write(JSON.stringify(r) + '\n');
    else process.stdout.write(`perplexity ${r.ppl.toFixed(4)} (${r.windows} windows × ${r.seqlen} tokens, mean NLL ${r.nll.toFixed(4)})\n`);
  });
}

export function registerCompressCommands(program: Command): void {
  modelOptions(program.command('compress')
    .description('compress a model (GPTQ, SparseGPT, RTN, magnitude) into a GPTQ-layout folder'),
  'float model: HF folder, .gguf or llama2.c .bin (default: the embedded default model)', false)
    .addOption(new Option('--method <m>', 'compression method').choices(['gptq', 'rtn', 'sparsegpt', 'magnitude']).makeOptionMandatory())
    .option('--bits <b>', 'quantization bits: 2, 3, 4 or 8 (sparsegpt: joint quantization)', int('--bits', 1))
    .option('--group-size <g>', 'columns per quantization group (-1: per channel; default the largest of 128, 64, 32 dividing every layer\'s input, else -1)', (v) => { const n = Number(v); if (!(n === -1 || (Number.isInteger(n) && n >= 1))) throw new InvalidArgumentError('--group-size must be -1 or a positive integer'); return n; })
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
    .option('--verbose', 'print every layer\'s reconstruction error')
    .option('--json', 'print the result (per-module errors, timings) as JSON')
    .action(compress);

  modelOptions(program.command('ppl')
    .description('perplexity on WikiText-2 / C4 as the GPTQ papers compute it (non-overlapping windows, exp of mean NLL)'))
    .option('--data <file>', 'evaluation text: raw text (WikiText-2 test joined) or JSONL with "text" (C4); repeatable', collect, [] as string[])
    .option('--seqlen <n>', 'window length (default min(2048, context))', int('--seqlen', 2))
    .option('--max-windows <n>', 'score at most this many windows (C4 JSONL default 256)', int('--max-windows', 1))
    .option('--batch <n>', 'windows per forward pass', int('--batch', 1), 1)
    .option('--adapter <dir>', 'PEFT adapter folder applied to the model (prompt tuning, prefix tuning, LoRA)')
    .option('--dequantize', 'GPTQ models: run fp32 on dequantized weights instead of MatMulNBits')
    .option('--json', 'print JSON')
    .action(ppl);
}
