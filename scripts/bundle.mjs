// esbuild bundles: the CLI, the extension, the engine process and the webviews.
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
// the study's chart renderer: vega has top-level await, so it is an ES module of its own, imported at run time
await esbuild.build({ ...common, format: 'esm', sourcemap: false, entryPoints: ['src/engine/study/svg-render.ts'], outfile: 'dist/svg-render.mjs',
  // vega's CommonJS dependencies call require(): give the ES module one
  banner: { js: "import { createRequire as __cr } from 'module'; const require = __cr(import.meta.url);" } });
// the webviews (webview/): browser bundles with their stylesheets, under dist/webview/
await esbuild.build({
  entryPoints: { inspector: 'webview/inspector/main.ts', benchmarks: 'webview/benchmarks/main.ts' },
  bundle: true, platform: 'browser', format: 'iife', target: 'chrome120', outdir: 'dist/webview', minify: true, sourcemap: false, // maps would add ~10 MB to the .vsix
  logLevel: 'warning',
});
