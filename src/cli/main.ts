// `idp` — the command line over the same engine the extension uses (in-process).

import * as fs from 'fs';
import * as path from 'path';
import { Command } from 'commander';
import { runGenerate } from './generate';
import { runInfo } from './info';
import { EXIT, reportError } from './errors';
import { registerCompressCommands } from './compress';
import { registerTrainCommand } from './train';
import { registerBankCommands } from './bank';
import { registerBenchCommand } from './bench';
import { registerStudyCommand } from './study';
import { registerStudyFigureCommand } from './study-figure';
import { registerServeCommand } from './serve';
import { registerGpuCommands } from './gpu';
import { collect, fimChoice, idList, int, modelOptions, num } from './options';
import { FIM_TEMPLATE_NAMES, GENERATE_DEFAULTS, packageRoot, relaunchWithHugePages } from '../engine/index';


/** The package's version (package.json beside dist/ or the repository root). */
function packageVersion(): string {
  try {
    return String((JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version?: unknown }).version ?? 'unknown');
  } catch {
    return 'unknown';
  }
}

export function cli(): Command {
  const program = new Command('idp')
    .description('IDP Lab: run, compress and recover LLMs on ONNX Runtime')
    .version(packageVersion(), '-V, --version', 'print the version')
    .showHelpAfterError()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    // commander's own usage errors (an unknown option, a bad value) are bad input: exit 2 as the
    // README documents, not commander's 1; help and --version still exit 0 (subcommands inherit this)
    .exitOverride((e) => process.exit(e.exitCode === 0 ? 0 : EXIT.INPUT))
    .addHelpText('after', '\nEvery --model also takes a Hugging Face Hub id, ORG/NAME[@REVISION] or ORG/NAME:QUANT (GGUF):\n' +
      'read from the Hugging Face cache, downloaded there first when missing (README: Models from the Hub).');

  modelOptions(program.command('generate')
    .description('generate text from a prompt (BOS first, as llama2.c)'))
    .option('--prompt <text>', 'prompt text (default: none, generate from BOS); with --fim-suffix, the text before the cursor', '')
    .option('--ids <list>', 'token ids as they are, comma-separated (instead of --prompt)', idList)
    .option('--fim-suffix <text>', 'the text after the cursor: fill in the middle between --prompt and it (cut to fit the context)')
    .option('--fim-template <name>', `with --fim-suffix: auto (the vocabulary's FIM tokens), none (the prefix alone) or ${FIM_TEMPLATE_NAMES.join(', ')} (default auto)`, fimChoice)
    .option('--max-tokens <n>', `tokens to generate (default ${GENERATE_DEFAULTS.maxTokens})`, int('--max-tokens'))
    .option('--temperature <t>', `0 = greedy (default ${GENERATE_DEFAULTS.temperature})`, num('--temperature', 0, 100))
    .option('--top-k <k>', `sample among the k most likely, 0 = off (default ${GENERATE_DEFAULTS.topK})`, int('--top-k'))
    .option('--top-p <p>', `nucleus sampling, 1 = off (default ${GENERATE_DEFAULTS.topP})`, num('--top-p', 0, 1))
    .option('--seed <s>', `random seed (default ${GENERATE_DEFAULTS.seed})`, int('--seed'))
    .option('--stop <text>', 'stop sequence (repeatable)', collect, [] as string[])
    .option('--bank <dir>', 'IDP prompt bank for the model: IDP picks one of its prompts for the prompt (--json: idp {selected, n, scores})')
    .option('--json', 'print one JSON object {text, ids, finish, timings, input} (input: the token ids the prompt was laid out as)')
    .action(runGenerate);

  program.command('info')
    .description('architecture, parameter count, dtypes, format, context length')
    .option('--model <path>', 'HF folder, GPTQ folder, .gguf or llama2.c .bin (default: the embedded default model)')
    .option('--tokenizer <path>', 'tokenizer file (llama2.c tokenizer.bin, or tokenizer.json)')
    .option('--json', 'print JSON')
    .action(runInfo);

  registerCompressCommands(program);
  registerTrainCommand(program);
  registerBankCommands(program);
  registerBenchCommand(program);
  registerStudyCommand(program);
  registerStudyFigureCommand(program);
  registerServeCommand(program);
  registerGpuCommands(program);

  return program;
}

if (require.main === module && !relaunchWithHugePages()) {
  cli().parseAsync(process.argv).catch((e) => process.exit(reportError(e)));
}
