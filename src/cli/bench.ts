// `idp bench`: the paper's nine tasks (lm-eval semantics) and held-out-text tasks on a model, with or
// without an adapter or an IDP prompt bank (--bank: unpacked scoring, the context of each request votes,
// per-prompt selection counts in the report). Progress on stderr; Ctrl-C stops after the current forward pass and writes the
// tasks finished so far (status "cancelled", exit 130); results are written atomically:
// FILE (JSON), FILE.md (Table 1 layout) and FILE.samples.jsonl (one line per scored document).

import * as path from 'path';
import { Command, Option } from 'commander';
import { loadModel, describeModel } from '../engine/models/load';
import { parameterCount } from '../engine/models/config';
import { CausalLM } from '../engine/runtime/lm';
import { dataDir, defaultModelPath } from '../engine/defaults';
import { inputError } from '../engine/errors';
import { AdaptedLM, loadAdapter } from '../engine/train/adapted';
import { countParams } from '../engine/train/tensors';
import { encodingFor } from '../engine/eval/requests';
import { parseTaskList } from '../engine/eval/tasks';
import { loadBenchTasks } from '../engine/eval/bench';
import { runTasks } from '../engine/eval/harness';
import { buildReport, ModelInfo, reportPaths, toMarkdown, writeReport } from '../engine/eval/report';
import { claimReportFiles } from '../engine/formats/output-folder';
import type { ScoringModel } from '../engine/eval/scoring';
import { IdpScoringModel } from '../engine/eval/idp-model';
import { IdpBank, SelectionScore } from '../engine/idp/bank';
import { IdpLM } from '../engine/idp/runner';
import { promptParams } from '../engine/idp/params';
import { reportError } from './errors';
import { cancellation, collect, int, threadsFor } from './options';
import { chosenEp, epOption } from './gpu';
import type { ProviderSetting } from '../engine/runtime/gpu/provider-choice';

interface BenchFlags {
  model?: string; tokenizer?: string; adapter?: string; bank?: string; tasks: string; dataDir?: string; heldout: string[];
  limit?: number; seed: number; batchTokens?: number; pack: boolean; maxGenToks: number; choices: number; out: string;
  label?: string; addBos?: boolean; ep: ProviderSetting; threads?: number; json?: boolean; selectionLayer?: number; score?: SelectionScore;
}

function progress(json: boolean | undefined) {
  const tty = process.stderr.isTTY;
  let last = -Infinity;
  let started = performance.now();
  let current = '';
  return (p: { task: string; done: number; total: number }) => {
    if (json) return;
    const now = performance.now();
    if (p.task !== current) { current = p.task; started = now; last = -Infinity; }
    if (p.done < p.total && now - last < (tty ? 200 : 5000)) return;
    last = now;
    const rate = p.done / Math.max(1e-3, (now - started) / 1000);
    const eta = (p.total - p.done) / rate;
    const etaText = p.done === 0 ? '?' : eta < 60 ? `${Math.round(eta)}s` : `${(eta / 60).toFixed(1)}m`;
    const line = `[bench] ${p.task} ${p.done}/${p.total} requests (${rate.toFixed(1)}/s, ETA ${etaText})`;
    process.stderr.write(tty ? `\r${line}\x1b[K${p.done === p.total ? '\n' : ''}` : `${line}\n`);
  };
}

async function runBench(f: BenchFlags): Promise<void> {
  const c = cancellation('\nidp: cancelling after this forward pass (finished tasks are written)…\n');
  const t0 = performance.now();
  let claim: { release(): void } | undefined;
  try {
    if (f.bank && f.adapter) throw inputError('give --adapter or --bank, not both');
    if (!f.bank && (f.selectionLayer !== undefined || f.score)) throw inputError('--selection-layer and --score need --bank');
    const paths = reportPaths(f.out);
    claim = claimReportFiles(paths.json, [paths.md, paths.samples]);   // before any compute
    const specs = parseTaskList(f.tasks);
    const tasks = loadBenchTasks(specs, { dataDir: f.dataDir ?? dataDir(), heldout: f.heldout, heldoutOptions: { seed: f.seed, choices: f.choices } });
    const m = await loadModel(f.model ?? defaultModelPath(), { tokenizer: f.tokenizer });
    const encoding = encodingFor(m.config, m.tokenizer, { addBos: f.addBos });
    const threads = threadsFor(m, f.threads);
    const ep = await chosenEp(f.ep);
    let model: ScoringModel;
    const info: ModelInfo = {
      path: m.source, label: f.label ?? path.basename(m.source), type: '-', arch: m.config.hfArchitecture,
      parameters: parameterCount(m), quantization: describeModel(m).quantization,
    };
    if (f.adapter) {
      const method = loadAdapter(m, f.adapter);
      model = new AdaptedLM(method, { threads, ep });
      Object.assign(info, { type: method.kind, adapter: path.resolve(f.adapter), adapterParams: countParams(method.params) });
    } else if (f.bank) {
      const bank = IdpBank.load(f.bank, m, { onWarning: (w) => { if (!f.json) process.stderr.write(`idp: ${w}\n`); } });
      if (f.selectionLayer !== undefined) bank.selectionLayer = f.selectionLayer;
      if (f.score) bank.score = f.score;
      const idp = new IdpLM(m, bank, { threads, ep });
      model = new IdpScoringModel(idp, m.tokenizer);
      Object.assign(info, {
        type: 'IDP', adapterParams: promptParams(m.config, bank.info.map((p) => p.n), 'idp').paper,
        bank: { path: path.resolve(f.bank), prompts: bank.info.map((p) => p.n), selectionLayer: idp.selectionLayer, score: bank.score },
      });
    } else {
      model = new CausalLM(m, { threads, ep });
    }
    if (!f.json) {
      process.stderr.write(`[bench] ${info.label}: ${tasks.map((t) => `${t.name} (${f.limit !== undefined ? `${Math.min(f.limit, t.docs.length)} of ` : ''}${t.docs.length})`).join(', ')}\n`);
    }
    const run = await runTasks(model, encoding, tasks, {
      limit: f.limit, seed: f.seed, batchTokens: f.batchTokens, pack: f.pack, maxGenToks: f.maxGenToks,
      onProgress: progress(f.json), isCancelled: c.isCancelled, prompts: model instanceof IdpScoringModel ? model.prompts : undefined,
    });
    const report = buildReport(info, {
      tasks: specs.map((s) => (s.path ? `${s.name}=${s.path}` : s.name)), dataDir: path.resolve(f.dataDir ?? dataDir()), heldout: f.heldout,
      limit: f.limit, seed: f.seed, batchTokens: f.batchTokens, maxGenToks: f.maxGenToks, pack: f.pack && !f.bank, addBos: encoding.addBos,
    }, run, (performance.now() - t0) / 1000);
    const files = writeReport(f.out, report, run.samples);
    if (f.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else process.stdout.write(`${toMarkdown(report)}\nwrote ${files.json}, ${path.basename(files.md)}, ${path.basename(files.samples)}\n`);
    if (run.cancelled) process.exitCode = 130;
  } catch (e) {
    process.exitCode = reportError(e);
  } finally {
    claim?.release();
    c.dispose();
  }
}

export function registerBenchCommand(program: Command): void {
  program.command('bench')
    .description('the paper\'s nine tasks (lm-eval semantics) and held-out-text tasks: Table 1 layout, per-task metrics, per-sample logs')
    .option('--model <path>', 'HF folder, .gguf or llama2.c .bin (default: the embedded default model)')
    .option('--tokenizer <path>', 'tokenizer file')
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
    .addOption(epOption())
    .option('--threads <n>', 'intra-op threads', int('--threads', 1))
    .option('--json', 'print the report JSON instead of the Markdown table')
    .action(runBench);
}
