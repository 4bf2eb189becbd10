// `idp gpu check | setup | remove`, and the --ep option every model command shares (auto included).
//
//   idp gpu check    what the CUDA and WebGPU providers need here and what is missing, and what
//                    --ep auto picks (docs/gpu.md)
//   idp gpu setup    fetch onnxruntime-node's CUDA provider files from its NuGet package, verified
//                    (IDP_NUGET_INDEX or --index: another feed, e.g. a mirror), into the binding folder
//   idp gpu remove   take away the files `idp gpu setup` installed

import { Command, Option } from 'commander';
import {
  checkCudaMachine, chooseAuto, cudaFilesStatus, CudaFilesStatus, cudaGaps, CudaMachine, cudaPlatformProblem, describeChoice, PROVIDER_SETTINGS,
  ProviderChoice, ProviderSetting, removeCuda, resolveProvider, setupCuda, SetupProgress,
} from '../engine/index';
import type { ExecutionProvider } from '../engine/index';
import { reportError } from './errors';

/** The --ep option of the model commands. */
export const epOption = () => new Option('--ep <ep>', 'execution provider; auto: CUDA, then WebGPU, then the CPU (docs/gpu.md)')
  .choices([...PROVIDER_SETTINGS]).default('cpu');

/** The provider an --ep value means here; for auto, says on stderr which and why. */
export async function chosenEp(setting: ProviderSetting): Promise<ExecutionProvider> {
  const c = await resolveProvider(setting);
  if (setting === 'auto') process.stderr.write(`idp: execution provider ${describeChoice(c)}\n`);
  return c.ep;
}

interface CheckReport { auto: ProviderChoice; files: CudaFilesStatus; machine: CudaMachine; cudaMissing: string[] }

async function check(): Promise<CheckReport> {
  const files = cudaFilesStatus();
  const machine = checkCudaMachine();
  return { auto: await chooseAuto(), files, machine, cudaMissing: cudaGaps(files, machine) };
}

function printCheck(r: CheckReport): void {
  const w = (s = '') => process.stdout.write(`${s}\n`);
  w(`--ep auto picks ${r.auto.ep}`);
  for (const p of r.auto.passed) w(`  not ${p.ep}: ${p.reason}`);
  w();
  const platform = cudaPlatformProblem();
  if (platform) {
    w(`CUDA: ${platform}`);
    return;
  }
  const f = r.files;
  const by = f.installedBy ? `; installed by IDP Lab: ${f.installedBy.package} ${f.installedBy.version}${f.installedBy.verified ? ' (verified)' : ' (unverified)'}` : '';
  w(`CUDA provider files in ${f.dir}: ${f.missing.length ? `missing ${f.missing.join(', ')}` : `present (${f.present.join(', ')})${by}`}`);
  if (f.installedBy && f.wanted && f.installedBy.version !== f.wanted.version) w(`  installed for ${f.installedBy.version}, onnxruntime-node wants ${f.wanted.version}: run idp gpu setup again`);
  w(`NVIDIA GPU: ${r.machine.device.present ? r.machine.device.detail : r.machine.device.detail.replace(/^no NVIDIA GPU: /, 'none — ')}`);
  w('CUDA 12 / cuDNN 9 libraries:');
  const width = Math.max(...r.machine.libraries.map((l) => l.soname.length));
  for (const l of r.machine.libraries) {
    const where = l.file ? `${l.file} (${l.via === 'folder' ? 'not on the library path: IDP Lab adds its folder to LD_LIBRARY_PATH' : l.via})` : 'missing';
    w(`  ${l.soname.padEnd(width)}  ${where}${l.required ? '' : '  [optional]'}`);
  }
  w();
  w(r.cudaMissing.length ? `CUDA needs: ${r.cudaMissing.join(', ')}` : 'CUDA: everything it needs is here');
}

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

function progressPrinter(): (p: SetupProgress) => void {
  const tty = process.stderr.isTTY;
  let last = 0;
  let phase = '';
  return (p) => {
    const now = Date.now();
    if (p.phase === 'download' && p.phase === phase) {
      const done = p.total !== undefined && p.bytes === p.total;
      if (!done && now - last < (tty ? 200 : 3000)) return;
      last = now;
      const line = `idp: downloading ${mb(p.bytes ?? 0)}${p.total ? ` of ${mb(p.total)}` : ''}`;
      process.stderr.write(tty ? `\r${line}\x1b[K${done ? '\n' : ''}` : `${line}\n`);
      return;
    }
    phase = p.phase;
    last = now;
    process.stderr.write(`idp: ${p.message}\n`);
  };
}

interface SetupFlags { index?: string; verify: boolean; force?: boolean; binDir?: string; json?: boolean }

async function runSetup(f: SetupFlags): Promise<void> {
  const ac = new AbortController();
  const onSignal = () => {
    if (ac.signal.aborted) process.exit(130);
    process.stderr.write('\nidp: cancelling the setup (nothing is installed)…\n');
    ac.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const r = await setupCuda({ index: f.index, verify: f.verify, force: f.force, binDir: f.binDir, signal: ac.signal, onProgress: f.json ? undefined : progressPrinter() });
    const files = cudaFilesStatus({ binDir: r.dir });
    const gaps = cudaGaps(files, checkCudaMachine());
    if (f.json) {
      process.stdout.write(JSON.stringify({ ...r, cudaMissing: gaps }, null, 2) + '\n');
      return;
    }
    process.stdout.write(r.already
      ? `${r.package} ${r.version}: the CUDA provider files are already in ${r.dir}\n`
      : `installed ${r.files.join(', ')} from ${r.package} ${r.version} into ${r.dir}${r.verified ? ' (SHA512 verified)' : ' (NOT verified: --no-verify)'}\n`);
    process.stdout.write(gaps.length ? `CUDA still needs: ${gaps.join(', ')} (idp gpu check tells more)\n` : 'CUDA: everything it needs is here; use --ep cuda or --ep auto\n');
  } catch (e) {
    process.exitCode = reportError(e);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export function registerGpuCommands(program: Command): void {
  const gpu = program.command('gpu').description('GPU execution providers: check what they need, set up CUDA');
  gpu.command('check')
    .description('what the CUDA and WebGPU providers need here, what is missing, and what --ep auto picks')
    .option('--json', 'print JSON')
    .action(async (f: { json?: boolean }) => {
      try {
        const r = await check();
        if (f.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
        else printCheck(r);
      } catch (e) {
        process.exitCode = reportError(e);
      }
    });
  gpu.command('setup')
    .description('fetch the CUDA provider files matching this onnxruntime-node (its NuGet package), verify them, and install them beside its binding')
    .option('--index <url>', 'NuGet v3 service index (default: $IDP_NUGET_INDEX, else https://api.nuget.org/v3/index.json)')
    .option('--no-verify', 'install even when the feed states no SHA512 for the package')
    .option('--force', 'fetch and install again even when this version\'s files are in place')
    .option('--bin-dir <folder>', 'install here instead of onnxruntime-node\'s binding folder (tests, inspection)')
    .option('--json', 'print JSON')
    .action(runSetup);
  gpu.command('remove')
    .description('remove the CUDA provider files idp gpu setup installed (files it did not install are left)')
    .option('--bin-dir <folder>', 'the folder setup installed into (default: onnxruntime-node\'s binding folder)')
    .action((f: { binDir?: string }) => {
      try {
        const r = removeCuda({ binDir: f.binDir });
        process.stdout.write(r.removed.length || r.kept.length
          ? `removed ${r.removed.join(', ') || 'nothing'} from ${r.dir}${r.kept.length ? `; left ${r.kept.join(', ')} (changed since IDP Lab installed them)` : ''}\n`
          : `IDP Lab installed no CUDA provider files in ${r.dir}\n`);
      } catch (e) {
        process.exitCode = reportError(e);
      }
    });
}
