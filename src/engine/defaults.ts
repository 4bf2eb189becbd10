// Where the default model and the staged data are.
//
// Until the project's own embedded model exists (training issue), the default model is
// stories260K from the staged data folder (../shared/data beside the repository, or $IDP_DATA).

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

export function defaultModelPath(): string {
  return process.env.IDP_MODEL ?? path.join(dataDir(), 'models', 'stories260K', 'stories260K.gguf');
}

export function cacheDir(): string {
  return path.resolve(process.env.IDP_CACHE ?? path.join(require('os').homedir(), '.cache', 'idp-lab'));
}
