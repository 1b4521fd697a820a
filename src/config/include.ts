/**
 * `includefile` expansion, pure: the caller supplies file contents through `read`.
 *
 * The result is the sequence of lines the compiler sees, each with the file it came from,
 * in the order ntpd would read them (an included file's lines replace nothing; they follow
 * the includefile line). Rules:
 * - a relative path is taken from the including file's folder (ntpd uses its working
 *   directory, which for a daemon is "/" and surprises everyone);
 * - a file that includes itself, directly or through others, is a located error naming the
 *   chain; including the same file twice from different places is fine;
 * - at most MAX_INCLUDE_DEPTH levels, as ntpd (MAXINCLUDELEVEL);
 * - a missing or unreadable file is a located warning, and the rest still loads: ntpd also
 *   reports it and goes on, and stock configs name files (/etc/ntp/crypto/pw) that are
 *   often absent.
 */
import { posix } from 'node:path';
import { DiagnosticCode, DiagnosticList } from './diagnostics.js';
import type { ConfigDiagnostic } from './model.js';
import { parseTree, type ConfigLine, type ConfigTree, type Token } from './tree.js';

export const MAX_INCLUDE_DEPTH = 5;

export type IncludeRead =
  | { readonly ok: true; readonly text: string }
  | { readonly ok: false; readonly reason: 'missing' | 'unreadable' | 'not-followed'; readonly detail: string };

export interface SourceFile {
  readonly path: string;
  readonly text: string;
  readonly tree: ConfigTree;
}

/** A line as the compiler sees it: where it came from and its tokens. */
export interface PlacedLine {
  readonly file: string;
  readonly line: ConfigLine;
}

export interface Expansion {
  readonly lines: readonly PlacedLine[];
  /** Every file read, once each, root first. */
  readonly files: readonly SourceFile[];
  readonly diagnostics: readonly ConfigDiagnostic[];
}

export function resolveIncludePath(fromFile: string, target: string): string {
  return posix.isAbsolute(target) ? posix.normalize(target) : posix.join(posix.dirname(fromFile), target);
}

/** The path token of an includefile line that the expander should follow, if any. */
export function includeTarget(line: ConfigLine): Token | undefined {
  const [name, path] = line.tokens;
  return name?.value === 'includefile' && path && !path.unterminated && path.value !== '' ? path : undefined;
}

/**
 * `read` answers for included paths only (the root's text is given); returning undefined
 * means "not available yet" and is treated like a missing file (load.ts uses this to learn
 * which files to read, then runs the expansion again).
 */
export function expandIncludes(rootPath: string, rootText: string, read: (path: string) => IncludeRead | undefined): Expansion {
  const out = new DiagnosticList();
  const lines: PlacedLine[] = [];
  const files = new Map<string, SourceFile>();

  const visit = (file: SourceFile, chain: readonly string[]): void => {
    for (const line of file.tree.lines) {
      lines.push({ file: file.path, line });
      const target = includeTarget(line);
      if (!target) continue;
      const path = resolveIncludePath(file.path, target.value);
      if (chain.includes(path)) {
        out.error(file.path, target, {
          code: DiagnosticCode.IncludeCycle, directive: 'includefile',
          message: `includefile: ${path} includes itself: ${[...chain, path].join(' -> ')}`,
          hint: 'remove one of the includefile lines in that chain',
        });
        continue;
      }
      if (chain.length > MAX_INCLUDE_DEPTH) {
        out.error(file.path, target, {
          code: DiagnosticCode.IncludeTooDeep, directive: 'includefile',
          message: `includefile: ${path} would be nested ${chain.length} levels deep; at most ${MAX_INCLUDE_DEPTH} are allowed`,
          hint: 'include the file from a higher level instead',
        });
        continue;
      }
      const included = files.get(path) ?? readSource(path, read(path) ?? { ok: false, reason: 'missing', detail: 'not read yet' });
      if ('problem' in included) {
        reportUnreadable(out, file.path, target, path, included.problem);
        continue;
      }
      files.set(path, included);
      visit(included, [...chain, path]);
    }
  };

  const root: SourceFile = { path: rootPath, text: rootText, tree: parseTree(rootText) };
  files.set(rootPath, root);
  visit(root, [rootPath]);
  return { lines, files: [...files.values()], diagnostics: out.items };
}

function readSource(path: string, result: IncludeRead): SourceFile | { problem: Exclude<IncludeRead, { ok: true }> } {
  if (!result.ok) return { problem: result };
  return { path, text: result.text, tree: parseTree(result.text) };
}

function reportUnreadable(out: DiagnosticList, from: string, target: Token, path: string, problem: Exclude<IncludeRead, { ok: true }>): void {
  const input = {
    missing: {
      code: DiagnosticCode.IncludeMissing,
      message: `includefile: ${path} does not exist; its directives are skipped`,
      hint: 'create the file or remove this line (stock ntpd configs name /etc/ntp/crypto/pw, which is often absent)',
    },
    unreadable: {
      code: DiagnosticCode.IncludeUnreadable,
      message: `includefile: cannot read ${path} (${problem.detail}); its directives are skipped`,
      hint: 'check the file\'s permissions, or remove this line',
    },
    'not-followed': {
      code: DiagnosticCode.IncludeNotFollowed,
      message: `includefile: ${path} was not read (${problem.detail})`,
      hint: 'validate the file with loadConfig or `gnomon config validate` to follow includes',
    },
  }[problem.reason];
  out.warning(from, target, { ...input, directive: 'includefile' });
}
