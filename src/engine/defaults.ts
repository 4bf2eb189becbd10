// Where the default model and the staged data are.
//
// The default model is the embedded one, models/default in the package: a small code model trained
// by this engine (`npm run train:default-model`; its model card is models/default/README.md), so the
// CLI and the extension work on a fresh machine without downloads. IDP_MODEL overrides it.
// stories260K stays available by path in the staged data folder (../shared/data beside the
// repository, or $IDP_DATA): storiesModelPath().

import * as fs from 'fs';
import * as path from 'path';

/** The repository (or installed package) root: the folder holding package.json above this file. */
export function packageRoot(): string {
  let d = __dirname;
  while (!fs.existsSync(path.join(d, 'package.json'))) {
    const up = path.dirname(d);
    if (up === d) return process.cwd();
    d = up;
  }
  return d;
}

export function dataDir(): string {
  return path.resolve(process.env.IDP_DATA ?? path.join(packageRoot(), '..', 'shared', 'data'));
}

/** The model that ships with the package (models/default, a Hugging Face folder). */
export function embeddedModelPath(): string {
  return path.join(packageRoot(), 'models', 'default');
}

export function defaultModelPath(): string {
  return process.env.IDP_MODEL ?? embeddedModelPath();
}

/** stories260K (llama2.c's tiny story model) in the staged data folder. */
export function storiesModelPath(): string {
  return path.join(dataDir(), 'models', 'stories260K', 'stories260K.gguf');
}

export function cacheDir(): string {
  return path.resolve(process.env.IDP_CACHE ?? path.join(require('os').homedir(), '.cache', 'idp-lab'));
}
