// The static value-import graph of a TypeScript source file: what loading its built .js loads at once
// (`import type` and `import { type X }`-only lines load nothing; dynamic import() is not followed).
// For tests that keep a module out of a thread's start-up (docs/server.md, memory).
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const STATIC_IMPORT = /^\s*(?:import|export)\s+(type\s+)?(?:([^'";]*?)\s+from\s+)?['"]([^'"]+)['"]/gm;

/** Only types named: `{ type A, type B }` (or `import type`) is erased by tsc. */
function typeOnly(typeKeyword: string | undefined, clause: string | undefined): boolean {
  if (typeKeyword) return true;
  const named = /^\{([^}]*)\}$/.exec((clause ?? '').trim());
  if (!named) return false;
  const names = named[1]!.split(',').map((n) => n.trim()).filter((n) => n !== '');
  return names.length > 0 && names.every((n) => n.startsWith('type '));
}

/**
 * Every module `entry` (repo-relative .ts path) loads statically: repo-relative .ts paths of the
 * project's own files, and bare specifiers (`node:dgram`, `pino`) as they are written.
 */
export function staticImportGraph(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string): void => {
    const rel = relative(REPO, file);
    if (seen.has(rel)) return;
    seen.add(rel);
    for (const m of readFileSync(file, 'utf8').matchAll(STATIC_IMPORT)) {
      if (typeOnly(m[1], m[2])) continue;
      const spec = m[3]!;
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
      else seen.add(spec);
    }
  };
  visit(resolve(REPO, entry));
  return seen;
}
