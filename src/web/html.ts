/**
 * HTML that cannot be injected into: every interpolated value is escaped unless it is already
 * `SafeHtml` (built by `html` itself). Hostnames, comments and rule text from ntp.conf reach the
 * page only through here, so `<script>` in a comment renders as text.
 */

/** A fragment of markup known to be safe (built by `html`, never from raw input). */
export class SafeHtml {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

/** Escapes text for an element body or a quoted attribute value. */
export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"'`]/g, (c) => ESCAPES[c] ?? c);
}

type Interpolated = SafeHtml | string | number | boolean | null | undefined | readonly Interpolated[];

function render(value: Interpolated): string {
  if (value instanceof SafeHtml) return value.text;
  if (Array.isArray(value)) return (value as readonly Interpolated[]).map(render).join('');
  if (value === null || value === undefined || value === false) return '';
  return escapeHtml(value);
}

/** Tagged template: html`<td>${hostname}</td>` escapes hostname; nested html`` fragments and arrays of them pass. */
export function html(strings: TemplateStringsArray, ...values: Interpolated[]): SafeHtml {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] ?? '');
  return new SafeHtml(out);
}

export interface LayoutOptions {
  readonly title: string;
  /** The logged-in session's CSRF token (the logout form needs it); undefined when not logged in. */
  readonly csrf?: string;
  readonly active?: string;
  readonly scripts?: readonly string[];
  readonly body: SafeHtml;
}

const NAV: readonly [string, string][] = [['/', 'Status'], ['/restrict', 'Access (restrict)'], ['/broadcast', 'Broadcast'], ['/history', 'History']];

/** The page frame: navigation, login/logout, the app's stylesheet and local scripts only (CSP: 'self'). */
export function layout(o: LayoutOptions): string {
  const nav = NAV.map(([href, label]) => html`<a href="${href}"${o.active === href ? new SafeHtml(' aria-current="page"') : ''}>${label}</a>`);
  const account = o.csrf !== undefined
    ? html`<form method="post" action="/logout" class="inline"><input type="hidden" name="csrf" value="${o.csrf}"><button type="submit">Log out</button></form>`
    : html`<a href="/login">Log in</a>`;
  return '<!doctype html>\n' + html`<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${o.title} - Gnomon</title>
<link rel="stylesheet" href="/assets/gnomon.css">
<link rel="stylesheet" href="/assets/uPlot.min.css">
</head><body>
<header><strong>Gnomon</strong> <nav>${nav}</nav> <span class="account">${account}</span></header>
<main>
<h1>${o.title}</h1>
${o.body}
</main>
${(o.scripts ?? []).map((s) => html`<script src="${s}"></script>`)}
</body></html>
`.text;
}

/** One form field's error, next to the field (empty when none). */
export function fieldError(errors: ReadonlyMap<string, string> | undefined, field: string): SafeHtml {
  const e = errors?.get(field);
  return e === undefined ? html`` : html`<span class="field-error" data-field="${field}">${e}</span>`;
}
