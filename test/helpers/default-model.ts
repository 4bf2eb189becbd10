// The embedded default model (models/default, committed; rebuilt by `npm run train:default-model`):
// a real trained ~2.4M-parameter Llama with a byte-level BPE tokenizer, usable as a fast fixture.

import * as path from 'path';
import { REPO_ROOT } from './data';

export const DEFAULT_MODEL_DIR = path.join(REPO_ROOT, 'models', 'default');
