// IDP: Enable CUDA — `idp gpu setup` as a job (progress, cancel): the CUDA provider files for the
// bundled onnxruntime-node, fetched from its NuGet package (IDP_NUGET_INDEX in the environment picks
// another feed), verified, installed beside its binding; then what the machine still lacks, and an offer
// to switch idp.executionProvider to auto. The engines start again so that they see the files and the
// library folders found (runtime/gpu/cuda-env.ts), and auto chooses anew. Runs in the extension host:
// no onnxruntime is loaded here.

import * as vscode from 'vscode';
import type { Ctx } from '../context';
import { cudaFilesStatus, CudaSetupResult, setupCuda } from '../../engine/runtime/gpu/cuda-install';
import { checkCudaMachine } from '../../engine/runtime/gpu/cuda-libs';
import { cudaGaps } from '../../engine/runtime/gpu/provider-setting';

const mb = (n: number) => `${(n / 1e6).toFixed(0)} MB`;

export const enableCuda = (ctx: Ctx) => async (): Promise<CudaSetupResult | undefined> => {
  const r = await ctx.jobs.run('Enable CUDA', async (report, token) => {
    const ac = new AbortController();
    const sub = token.onCancellationRequested(() => ac.abort());
    try {
      return await setupCuda({
        signal: ac.signal,
        onProgress: (p) => {
          if (p.phase === 'download') {
            report({ fraction: p.total ? 0.95 * (p.bytes ?? 0) / p.total : undefined, message: `downloading ${mb(p.bytes ?? 0)}${p.total ? ` of ${mb(p.total)}` : ''}` });
          } else report({ fraction: p.phase === 'resolve' ? 0 : 0.97, message: p.message });
          if (p.phase !== 'download') ctx.log.info(`enable CUDA: ${p.message}`);
        },
      });
    } finally {
      sub.dispose();
    }
  });
  if (!r.ok) return undefined;
  const done = r.value;
  ctx.log.info(done.already ? `CUDA provider files already in ${done.dir}` : `installed ${done.files.join(', ')} (${done.package} ${done.version}, ${done.verified ? 'SHA512 verified' : 'not verified'}) into ${done.dir}`);
  const machine = checkCudaMachine();
  const gaps = cudaGaps(cudaFilesStatus({ binDir: done.dir }), machine);
  if (machine.libraryPath.length) ctx.log.info(`CUDA libraries found off the library path, added for the engine: ${machine.libraryPath.join(':')}`);
  ctx.engine.reconfigure('the CUDA provider was set up');
  ctx.work.reconfigure('the CUDA provider was set up');
  const setting = vscode.workspace.getConfiguration('idp').get<string>('executionProvider', 'cpu');
  if (gaps.length) {
    ctx.log.warn(`CUDA still needs: ${gaps.join(', ')}`);
    void vscode.window.showWarningMessage(`IDP: the CUDA provider files are installed, but CUDA still needs: ${gaps.join(', ')}.`, 'Show Log')
      .then((b) => { if (b) ctx.log.show(true); });
  } else if (setting !== 'auto' && setting !== 'cuda') {
    void vscode.window.showInformationMessage('IDP: CUDA is ready. Run models on it (execution provider: auto)?', 'Use auto').then(async (b) => {
      if (b) await vscode.workspace.getConfiguration('idp').update('executionProvider', 'auto', vscode.ConfigurationTarget.Global);
    });
  } else void vscode.window.showInformationMessage(`IDP: CUDA is ready (execution provider: ${setting}).`);
  return done;
};
