// `idp bench`: flags → the bench job's options (engine/jobs/bench.ts); progress on stderr; Ctrl-C stops
// after the current forward pass and writes the tasks finished so far (status "cancelled", exit 130).
// Prints the Table 1 layout (or the report JSON with --json).

import * as path from 'path';
import { Command, Option } from 'commander';
import { runBench, toMarkdown } from '../engine/index';
import type { BenchProgress, ProviderSetting, SelectionScore } from '../engine/index';
import { collect, int, list, modelOptions, runCancellable } from './options';

interface BenchFlags {
  model?: string; tokenizer?: string; adapter?: string; bank?: string; tasks: string; dataDir?: string; heldout: string[];
  limit?: number; seed: number; batchTokens?: number; pack: boolean; maxGenToks: number; choices: number; out: string;
  label?: string; addBos?: boolean; ep: ProviderSetting; threads?: number; json?: boolean; selectionLayer?: number; score?: SelectionScore;
}

function progress(json: boolean | undefined) {
  const tty = process.stderr.isTTY;
  let last = -Infinity;
  let current = '';
  return (p: BenchProgress) => {
    if (json) return;
    const now = performance.now();
    if (p.task !== current) { current = p.task; last = -Infinity; }
    if (p.done < p.total && now - last < (tty ? 200 : 5000)) return;
    last = now;
    const eta = (p.total - p.done) / Math.max(1e-9, p.requestsPerSecond);
    const etaText = p.done === 0 ? '?' : eta < 60 ? `${Math.round(eta)}s` : `${(eta / 60).toFixed(1)}m`;
    const line = `[bench] ${p.task} ${p.done}/${p.total} requests (${p.requestsPerSecond.toFixed(1)}/s, ETA ${etaText})`;
    process.stderr.write(tty ? `\r${line}\x1b[K${p.done === p.total ? '\n' : ''}` : `${line}\n`);
  };
}

async function bench(f: BenchFlags): Promise<void> {
  await runCancellable('\nidp: cancelling after this forward pass (finished tasks are written)…\n', async (signal) => {
    const r = await runBench({
      model: f.model, tokenizer: f.tokenizer, threads: f.threads, ep: f.ep, adapter: f.adapter, bank: f.bank, selectionLayer: f.selectionLayer,
      score: f.score, tasks: list(f.tasks), heldout: f.heldout.length ? f.heldout : undefined, dataDir: f.dataDir, limit: f.limit, seed: f.seed, choices: f.choices, label: f.label,
      addBos: f.addBos, batchTokens: f.batchTokens, pack: f.pack, maxGenToks: f.maxGenToks, out: f.out,
    }, { signal, onProgress: progress(f.json), onWarning: (w) => { if (!f.json) process.stderr.write(`idp: ${w}\n`); } });
    if (f.json) process.stdout.write(`${JSON.stringify(r.report)}\n`);
    else process.stdout.write(`${toMarkdown(r.report)}\nwrote ${r.files.json}, ${path.basename(r.files.md)}, ${path.basename(r.files.samples)}\n`);
    if (r.status === 'cancelled') process.exitCode = 130;
  });
}

export function registerBenchCommand(program: Command): void {
  modelOptions(program.command('bench')
    .description('the paper\'s nine tasks (lm-eval semantics) and held-out-text tasks: Table 1 layout, per-task metrics, per-sample logs'))
    .option('--adapter <dir>', 'PEFT adapter folder applied to the model (prompt tuning, prefix tuning, LoRA)')
    .option('--bank <dir>', 'IDP prompt bank (idp bank train): each request\'s context selects a prompt; selection counts in the report')
    .option('--selection-layer <l>', 'with --bank: override the bank\'s selection layer', int('--selection-layer', 0))
    .addOption(new Option('--score <s>', 'with --bank: override the bank\'s selection score').choices(['mass', 'mean']))
    .requiredOption('--tasks <list>', 'comma list: arc_easy, arc_challenge, sciq, webqs, triviaqa, piqa, hellaswag, lambada_openai, winogrande, all; ' +
      'text_lambada, text_next_sentence, text_next_line, text_ppl (need --heldout); name=FILE reads a task from FILE')
    .option('--data-dir <dir>', 'staged data root or tasks folder (default: the staged data, $IDP_DATA)')
    .option('--heldout <file>', 'held-out text for the text_* tasks: plain text, JSONL with "text", a quoted glob (repeatable)', collect, [] as string[])
    .option('--limit <n>', 'score a seeded random subsample of n documents per task', int('--limit', 1))
    .option('--seed <s>', 'seed of the --limit subsample, held-out distractors and bootstrap', int('--seed', 0), 1234)
    .option('--batch-tokens <n>', 'token slots per forward pass (default from the vocabulary size)', int('--batch-tokens', 1))
    .option('--no-pack', 'score each continuation in its own row (no shared-context packing)')
    .option('--max-gen-toks <n>', 'most tokens generated per answer (triviaqa)', int('--max-gen-toks', 1), 256)
    .option('--choices <n>', 'choices per held-out multiple-choice item', int('--choices', 2), 4)
    .requiredOption('--out <file>', 'results JSON; FILE.md and FILE.samples.jsonl are written beside it')
    .option('--add-bos', 'put BOS before every context and generation prompt (default: lm-eval\'s rule, none except for Gemma; perplexity tasks unchanged)')
    .option('--label <text>', 'row label in the table (default: the model file name)')
    .option('--json', 'print the report JSON instead of the Markdown table')
    .action(bench);
}
