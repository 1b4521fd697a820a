/**
 * `statistics`, `statsdir` and `filegen` (ntpd's monitoring commands) → StatsConfig.
 *
 * ntpd's rules, as NTPsec's config_monitor applies them: `statistics NAME...` enables those
 * sets; `filegen NAME [file F] [type T] [link|nolink] [enable|disable]` configures one set and
 * may enable or disable it; the `statistics` list is applied first, so a `filegen ... disable`
 * wins whatever the order of the lines. Within one `filegen` line, of `link`/`nolink` and of
 * `enable`/`disable` the later word counts, as in ntpd. File names are concatenated to the
 * folder, so `..` and `/` are refused (ntpd refuses `..` too).
 *
 * Gnomon writes loopstats, peerstats and clockstats; the other names ntpd knows (rawstats,
 * sysstats, ...) are accepted with a CONFIG_NOT_IMPLEMENTED warning on the name. Of the file
 * types it writes `day` (ntpd's default) and `none`; `pid`, `week`, `month`, `year`, `age` are
 * kept as `day` with a warning.
 */
import { DiagnosticCode, type DiagnosticList } from './diagnostics.js';
import { resolveIncludePath } from './include.js';
import {
  DEFAULT_STATSDIR, WRITTEN_STATS, type FilegenSettings, type SourcePosition, type StatsConfig, type StatsName,
} from './model.js';
import type { ParsedDirective } from './syntax.js';
import type { Token } from './tree.js';

export interface StatsDraft {
  dir?: string;
  readonly listed: Set<StatsName>;
  readonly filegen: Map<StatsName, { file?: string; type?: 'day' | 'none'; link?: boolean; enabled?: boolean; at: SourcePosition }>;
}

export function newStatsDraft(): StatsDraft {
  return { listed: new Set(), filegen: new Map() };
}

function isWritten(name: string): name is StatsName {
  return (WRITTEN_STATS as readonly string[]).includes(name);
}

function notWritten(p: ParsedDirective, token: Token, name: string, out: DiagnosticList): void {
  out.warning(p.file, token, {
    code: DiagnosticCode.NotImplemented, directive: p.spec.name,
    message: `${p.spec.name}: known ntpd directive, accepted but Gnomon does not write ${name} yet`,
    hint: `Gnomon writes ${WRITTEN_STATS.join(', ')}; the ${name} part of this line has no effect`,
  });
}

/** Applies one statistics/statsdir/filegen line to the draft. */
export function applyStatsDirective(p: ParsedDirective, draft: StatsDraft, out: DiagnosticList): void {
  switch (p.spec.name) {
    case 'statistics':
      for (const arg of p.rest) {
        if (arg.value.kind !== 'text') continue;
        if (isWritten(arg.value.text)) draft.listed.add(arg.value.text);
        else notWritten(p, arg.token, arg.value.text, out);
      }
      return;
    case 'statsdir': {
      const arg = p.args[0];
      if (arg?.value.kind !== 'text') return;
      const dir = resolveIncludePath(p.file, arg.value.text);
      draft.dir = dir.length > 1 ? dir.replace(/\/+$/, '') : dir;
      return;
    }
    case 'filegen':
      applyFilegen(p, draft, out);
      return;
  }
}

/** The later of two option tokens on one line (ntpd reads left to right, the last word counts). */
function later(a: Token | undefined, b: Token | undefined): 'a' | 'b' | undefined {
  if (!a) return b ? 'b' : undefined;
  if (!b) return 'a';
  return b.column > a.column ? 'b' : 'a';
}

function applyFilegen(p: ParsedDirective, draft: StatsDraft, out: DiagnosticList): void {
  const nameArg = p.args[0];
  if (nameArg?.value.kind !== 'text') return;
  const name = nameArg.value.text;
  if (!isWritten(name)) {
    notWritten(p, nameArg.token, name, out);
    return;
  }
  const entry = draft.filegen.get(name) ?? { at: { file: p.file, line: p.name.line, column: p.name.column } };
  entry.at = { file: p.file, line: p.name.line, column: p.name.column };

  const file = p.options.get('file')?.value;
  if (file?.value.kind === 'text') {
    const text = file.value.text;
    if (text.includes('/') || text === '..' || text === '.') {
      out.error(p.file, file.token, {
        code: DiagnosticCode.InvalidValue, directive: 'filegen',
        message: `filegen: file "${text}" must be a plain file name inside the statsdir folder`,
        hint: `write the folder with \`statsdir\` and only the name here, e.g. \`statsdir /var/log/ntpstats\` + \`filegen ${name} file ${name}\``,
      });
    } else {
      entry.file = text;
    }
  }

  const type = p.options.get('type')?.value;
  if (type?.value.kind === 'text') {
    if (type.value.text === 'day' || type.value.text === 'none') {
      entry.type = type.value.text;
    } else {
      entry.type = 'day';
      out.warning(p.file, type.token, {
        code: DiagnosticCode.NotImplemented, directive: 'filegen',
        message: `filegen: type ${type.value.text} is accepted but Gnomon does not implement it yet; files are made per UTC day (type day)`,
        hint: 'write `type day` (one file per UTC day, what ntpviz expects) or `type none` (one file)',
      });
    }
  }

  const link = later(p.options.get('link')?.token, p.options.get('nolink')?.token);
  if (link) entry.link = link === 'a';
  const enable = later(p.options.get('enable')?.token, p.options.get('disable')?.token);
  if (enable) entry.enabled = enable === 'a';
  draft.filegen.set(name, entry);
}

/** The frozen StatsConfig, or undefined when no statistics/statsdir/filegen line was read. */
export function freezeStats(draft: StatsDraft | undefined): StatsConfig | undefined {
  if (!draft) return undefined;
  const enabled = {} as Record<StatsName, boolean>;
  const filegen = {} as Record<StatsName, FilegenSettings>;
  for (const name of WRITTEN_STATS) {
    const f = draft.filegen.get(name);
    enabled[name] = f?.enabled ?? draft.listed.has(name);
    filegen[name] = { file: f?.file ?? name, type: f?.type ?? 'day', link: f?.link ?? true, ...(f ? { at: f.at } : {}) };
  }
  return { dir: draft.dir ?? DEFAULT_STATSDIR, enabled, filegen };
}
