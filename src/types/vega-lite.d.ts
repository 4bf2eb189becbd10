// vega-lite ships ESM-only type declarations that this project's CommonJS module resolution cannot see;
// the one function the study's chart renderer (src/engine/study/svg-render.ts) calls.
declare module 'vega-lite' {
  /** Vega-Lite spec → { spec: the Vega spec }. */
  export function compile(spec: Record<string, unknown>): { spec: import('vega').Spec };
}
