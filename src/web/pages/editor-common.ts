/** What the editor pages share: the outcome banner, the form-level errors, field values kept after a refusal. */
import { fieldError, html, type SafeHtml } from '../html.js';

/** A refused submission, shown in the form that sent it. */
export interface FormState {
  /** Which form (its `action` value). */
  readonly action: string;
  /** field → message (and hint), next to the field. */
  readonly errors: ReadonlyMap<string, string>;
  /** What the user typed, put back into the form. */
  readonly values: URLSearchParams;
  readonly message: string;
  readonly diagnostics: readonly string[];
}

export interface EditorView {
  readonly csrf: string;
  /** The file's etag the forms are based on (a stale one is refused). */
  readonly etag: string;
  readonly path: string;
  /** Set after a successful change (shown once). */
  readonly flash?: { readonly message: string; readonly warnings: readonly string[] };
  readonly failed?: FormState;
  /** The daemon runs something other than the file (or no daemon answers). */
  readonly runningDiffers: boolean | null;
}

/** Errors for form `action`, if that form was the one refused. */
export function errorsFor(v: EditorView, action: string): ReadonlyMap<string, string> | undefined {
  return v.failed?.action === action ? v.failed.errors : undefined;
}

/** The value to put back in field `name` of form `action` after a refusal. */
export function valueFor(v: EditorView, action: string, name: string, fallback = ''): string {
  return v.failed?.action === action ? v.failed.values.get(name) ?? fallback : fallback;
}

/** Hidden fields every editing form carries. */
export function hiddenFields(v: EditorView, action: string): SafeHtml {
  return html`<input type="hidden" name="csrf" value="${v.csrf}"><input type="hidden" name="etag" value="${v.etag}"><input type="hidden" name="action" value="${action}">`;
}

/** The banner above the editors: last outcome, form-level errors, whether the daemon runs this file. */
export function banner(v: EditorView, knownFields: readonly string[]): SafeHtml {
  const f = v.failed;
  const general = f ? [...f.errors].filter(([k]) => !knownFields.includes(k)).map(([, m]) => m) : [];
  return html`<p class="muted">File <code>${v.path}</code>, version <code class="etag">${v.etag.slice(0, 12)}</code>.
${v.runningDiffers === null ? html` No daemon answered on the control socket: changes are written but not reloaded.` : v.runningDiffers ? html` <strong>The daemon runs a different version</strong> (see <a href="/history">History</a>).` : ''}</p>
${v.flash ? html`<p class="success" role="status" id="flash">${v.flash.message}</p>${v.flash.warnings.map((w) => html`<p class="notice">${w}</p>`)}` : ''}
${f ? html`<div class="notice" role="alert" id="refused"><p>${f.message}</p>${general.map((m) => html`<p class="field-error">${m}</p>`)}${f.diagnostics.length ? html`<pre>${f.diagnostics.join('\n')}</pre>` : ''}</div>` : ''}`;
}

/** A labelled text input with its error beside it. */
export function textField(v: EditorView, action: string, name: string, label: string, o: { size?: number; placeholder?: string; list?: string } = {}): SafeHtml {
  return html`<label>${label} <input type="text" name="${name}" size="${o.size ?? 16}" value="${valueFor(v, action, name)}" placeholder="${o.placeholder ?? ''}"${o.list ? html` list="${o.list}"` : ''}></label>${fieldError(errorsFor(v, action), name)}`;
}
