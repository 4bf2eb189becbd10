// What `idp inspect` reports (and the extension's inspector shows): which prompt IDP selected for an
// input, every prompt's score, where each prompt sits (positions and cache slots), and per layer the
// head-averaged attention map [T][S] plus each input token's attention mass on every prompt and on the
// input. At the selection layer the map is the one the selection saw (before masking); after it the
// other prompts' columns are 0. Made by engine/idp/report.ts.

export interface InspectReport {
  selected: number;
  /** What the selection compared: the calibrated scores, or under the paper's rule the head-mean attention mass. */
  scores: number[];
  /** Head-mean attention mass of the input on each prompt at the selection layer (the paper's score). */
  mass: number[];
  /** 'calibrated': a linear rule fitted on each prompt's own text (calibration.ts); 'paper': argmax of the mass. */
  rule: 'paper' | 'calibrated';
  selectionLayer: number;
  score: 'mass' | 'mean';
  /** N: where the input starts. */
  positions: number;
  prompts: Array<{ index: number; n: number; start: number; slots: [number, number] }>;
  tokens: Array<{ id: number; text?: string; position: number }>;
  layers: Array<{
    layer: number;
    /** Per input token: attention mass on each prompt, then on the input. */
    segments: number[][];
    /** Head-averaged probabilities [T][S]; S = Σ n_i + T (prompt slots in bank order, then the input). */
    map: number[][];
    /** With per-head maps asked for: [H][T][S] per query head (heads of one KV head adjacent). */
    heads?: number[][][];
  }>;
}
