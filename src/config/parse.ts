/**
 * The pure pipeline: text → tree → included files → GnomonConfig + diagnostics.
 *
 * load.ts runs the same pipeline over files on disk; this entry point is for callers that
 * already hold the text (the web editor validating a draft, tests).
 */
import { compileConfig } from './compile.js';
import { lookupDirective } from './directives.js';
import { expandIncludes, resolveIncludePath, type Expansion, type IncludeRead, type PlacedLine, type SourceFile } from './include.js';
import type { ConfigDiagnostic, GnomonConfig, SourcePosition } from './model.js';

export interface ConfigResult {
  /** Undefined when any diagnostic is an error. */
  readonly config?: GnomonConfig;
  /** Errors and warnings, in the order their lines are read. */
  readonly diagnostics: readonly ConfigDiagnostic[];
  /** Every file read, root first, with its lossless tree for editing. */
  readonly files: readonly SourceFile[];
}

export interface ParseOptions {
  /** Supplies included files; without it includefile lines are reported as not followed. */
  readonly readInclude?: (path: string) => IncludeRead;
}

export function parseConfigText(text: string, fileName: string, options: ParseOptions = {}): ConfigResult {
  const read = options.readInclude ?? ((): IncludeRead => ({ ok: false, reason: 'not-followed', detail: 'no file access in parseConfigText' }));
  return finish(expandIncludes(fileName, text, read), []);
}

/** Compile an expansion and merge its diagnostics with `extra` (from the loader) in reading order. */
export function finish(expansion: Expansion, extra: readonly ConfigDiagnostic[]): ConfigResult {
  const compiled = compileConfig(expansion.lines);
  const diagnostics = orderDiagnostics(expansion.lines, [...expansion.diagnostics, ...compiled.diagnostics, ...extra]);
  const hasError = diagnostics.some((d) => d.severity === 'error');
  return {
    ...(compiled.config && !hasError ? { config: compiled.config } : {}),
    diagnostics,
    files: expansion.files,
  };
}

/** A file the config points at that should exist (keys, leapfile), for the loader to check. */
export interface ReferencedFile {
  readonly path: string;
  readonly directive: string;
  readonly at: SourcePosition;
}

export function referencedFiles(lines: readonly PlacedLine[]): ReferencedFile[] {
  const found: ReferencedFile[] = [];
  for (const { file, line } of lines) {
    const [name, ...args] = line.tokens;
    const spec = name && lookupDirective(name.value);
    if (!spec || !spec.args) continue;
    spec.args.forEach((arg, i) => {
      const token = args[i];
      if (arg.value.kind === 'path' && arg.value.mustExist && token && !token.unterminated && token.value !== '') {
        found.push({ path: resolveIncludePath(file, token.value), directive: spec.name, at: { file, line: token.line, column: token.column } });
      }
    });
  }
  return found;
}

/** Sorts by where each line is read (includes inline), then by column; stable otherwise. */
function orderDiagnostics(lines: readonly PlacedLine[], diagnostics: readonly ConfigDiagnostic[]): ConfigDiagnostic[] {
  const order = new Map<string, number>();
  lines.forEach(({ file, line }, i) => {
    const key = `${file}\0${line.number}`;
    if (!order.has(key)) order.set(key, i);
  });
  const rank = (d: ConfigDiagnostic): number => order.get(`${d.at.file}\0${d.at.line}`) ?? Number.MAX_SAFE_INTEGER;
  return diagnostics
    .map((d, i) => ({ d, i }))
    .sort((a, b) => rank(a.d) - rank(b.d) || a.d.at.column - b.d.at.column || a.i - b.i)
    .map(({ d }) => d);
}
