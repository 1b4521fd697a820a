// Gnomon bench: where the repository and the bench's build output are.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Compiled load generator, raw results and profiles (git-ignored). */
export const BUILD = path.join(ROOT, 'bench', 'build');
