// ESLint (flat config, typescript-eslint): correctness rules, and the layering of the code as import rules.
// `npm run lint`; run by `npm test` (scripts/test.mjs, stage "lint"); test/unit/lint proves the rules fire.
// No formatting rules: the code's layout is its authors'.
//
// Layering (docs/engine.md, "Layers"):
//   - the engine (src/engine) imports no front end (src/cli, src/server, src/extension, webview/) and no `vscode`;
//   - the engine's areas form layers, each importing only the layers below it, so there is no import cycle
//     between two areas (ENGINE_LAYERS, bottom first; areas in one layer do not import each other);
//   - the contracts (src/protocol) import no front end, and from the engine types only;
//   - the CLI and the engine process use the engine through its public entry, src/engine/index.ts;
//   - what the extension host loads (src/extension, webview/, and the two src/server files it shares with
//     the engine process) never imports that entry or the jobs: the engine runs in its own process.

import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** The engine's areas (folders of src/engine; 'base': its root files errors.ts, defaults.ts, rng.ts), bottom layer first. */
export const ENGINE_LAYERS = [
  ['base'],
  ['process'],
  ['formats'],
  ['tokenizers', 'onnx', 'hub'],
  ['fim', 'models'],
  ['runtime'],
  ['eval'],
  ['compress', 'train'],
  ['idp'],
  ['study'],
  ['jobs'],
];

const FRONT_ENDS = 'cli|server|extension|webview';
const up = '^(\\.\\./)+';   // an import leaving the importing file's folder

/** An import of one of `names` (folders reached through ../), as a regex pattern. */
const reach = (names, message, extra = {}) => ({ regex: `${up}(${names.join('|')})(/|$)`, message, ...extra });

const VSCODE = { name: 'vscode', message: 'only src/extension runs inside VS Code' };
/** The CLI and the engine process reach the engine through its index only. */
const ENGINE_INDEX_ONLY = { regex: `${up}engine/(?!index$)`, message: 'the CLI and the engine process use the engine through src/engine/index.ts' };

/** The import rule of one engine area: no front end, no layer at or above its own (but itself), not the public entry. */
function engineArea(area, level) {
  const above = ENGINE_LAYERS.slice(level).flat().filter((a) => a !== area && a !== 'base');
  const patterns = [reach(FRONT_ENDS.split('|'), 'the engine imports no front end (cli, server, extension, webview)')];
  const layered = 'engine areas import only the layers below their own (eslint.config.mjs ENGINE_LAYERS): no cycles between areas';
  if (area === 'base') {
    patterns.push({ regex: `^\\./(${[...ENGINE_LAYERS.flat().filter((a) => a !== 'base'), 'index'].join('|')})(/|$)`, message: layered });
  } else {
    if (above.length) patterns.push(reach(above, layered));
    patterns.push({ regex: `${up}index$`, message: 'src/engine/index.ts is for the front ends; engine code imports the module itself' });
  }
  return {
    files: area === 'base' ? ['src/engine/*.ts'] : [`src/engine/${area}/**/*.ts`],
    ignores: area === 'base' ? ['src/engine/index.ts'] : [],
    rules: { 'no-restricted-imports': ['error', { paths: [VSCODE], patterns }] },
  };
}

/** Files the extension host loads besides src/extension: the access checks it shares with the engine process. */
const SHARED_WITH_HOST = ['src/server/request-paths.ts', 'src/server/confinement.ts'];
const NO_ENGINE_RUNTIME = { regex: `${up}engine/(index|jobs)(/|$)`, message: 'the extension host never loads the engine (it runs in the engine process): import src/protocol or a pure engine module' };

export default tseslint.config(
  { ignores: ['out/**', 'dist/**', 'node_modules/**', '.vscode-test/**', 'models/**', '**/*.mjs', '**/*.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      // TypeScript checks names itself (and knows the globals of each tsconfig)
      'no-undef': 'off',
      // typing policy and lazy requires are the authors' choice, not correctness
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-require-imports': 'off',
      'preserve-caught-error': 'off',
      '@typescript-eslint/triple-slash-reference': 'off',
      // a `let` read by closures before its one assignment stays a `let`
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // `_name` marks what is deliberately left unused (a rest sibling, a callback argument)
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
  },
  ...ENGINE_LAYERS.flatMap((layer, level) => layer.map((area) => engineArea(area, level))),
  {
    files: ['src/protocol/**/*.ts'],
    rules: {
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-restricted-imports': ['error', {
        paths: [VSCODE],
        patterns: [
          reach(FRONT_ENDS.split('|'), 'the contracts import no front end'),
          reach(['engine'], 'the contracts name engine types (import type) and load no engine code', { allowTypeImports: true }),
        ],
      }],
    },
  },
  {
    files: ['src/cli/**/*.ts'],
    ignores: SHARED_WITH_HOST,
    rules: {
      'no-restricted-imports': ['error', {
        paths: [VSCODE],
        patterns: [
          ENGINE_INDEX_ONLY,
          reach(['extension', 'webview'], 'the CLI and the engine process import no extension code'),
        ],
      }],
    },
  },
  {
    files: ['src/server/**/*.ts'],
    ignores: SHARED_WITH_HOST,
    rules: {
      'no-restricted-imports': ['error', {
        paths: [VSCODE],
        patterns: [
          ENGINE_INDEX_ONLY,
          reach(['cli', 'extension', 'webview'], 'the engine process imports no other front end (shared logic belongs in the engine)'),
        ],
      }],
    },
  },
  {
    files: SHARED_WITH_HOST,
    rules: { 'no-restricted-imports': ['error', { paths: [VSCODE], patterns: [NO_ENGINE_RUNTIME, reach(['cli', 'extension'], 'shared with the extension host and the engine process: no front end')] }] },
  },
  {
    files: ['src/extension/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [NO_ENGINE_RUNTIME, reach(['cli'], 'the extension runs the engine process, never the CLI\'s code')] }] },
  },
  {
    files: ['webview/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [VSCODE],
        patterns: [{ regex: '^(\\.\\./)+src/(cli|server|extension)(/|$)', message: 'a webview imports the contracts (src/protocol) and pure engine modules only' },
          { regex: '^(\\.\\./)+src/engine/(index|jobs)(/|$)', message: NO_ENGINE_RUNTIME.message }],
      }],
    },
  },
);
