// esbuild bundles: the CLI and the extension (webviews join here when they exist).
// onnxruntime-node stays external: it is a native addon loaded from node_modules.
import * as esbuild from 'esbuild';

const common = { bundle: true, platform: 'node', target: 'node20', format: 'cjs', sourcemap: true,
  external: ['onnxruntime-node', 'vscode'], logLevel: 'warning' };

await Promise.all([
  esbuild.build({ ...common, entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' } }),
  esbuild.build({ ...common, entryPoints: ['src/extension/extension.ts'], outfile: 'dist/extension.js' }),
  // the engine process the extension spawns (JSON-RPC over stdio)
  esbuild.build({ ...common, entryPoints: ['src/server/main.ts'], outfile: 'dist/server.js' }),
]);
await esbuild.build({ ...common, entryPoints: ['src/engine/runtime/worker-main.ts'], outfile: 'dist/engine-worker.js' });
