/** The restrict editor: the rules as the file has them, add / remove / set the default. */
import { RESTRICT_FLAGS } from '../../config/model.js';
import type { RestrictEntry } from '../../config/store.js';
import { html, layout } from '../html.js';
import { banner, hiddenFields, textField, type EditorView } from './editor-common.js';

const FIELDS = ['address', 'prefixLength', 'mask', 'flags', 'family'];

function target(r: RestrictEntry): string {
  if (r.kind !== 'address') return `${r.kind}${r.family === 'any' ? '' : ` (${r.family})`}`;
  return r.prefixLength === undefined ? r.address ?? '' : `${r.address ?? ''}/${r.prefixLength}`;
}

function removeForm(v: EditorView, r: RestrictEntry) {
  if (!r.editable || r.kind !== 'address' || r.address === undefined) return html``;
  return html`<form method="post" action="/restrict" class="inline">${hiddenFields(v, 'restrict-remove')}
<input type="hidden" name="address" value="${r.address}"><input type="hidden" name="prefixLength" value="${r.prefixLength ?? ''}">
<button type="submit" data-remove="${target(r)}">Remove</button></form>`;
}

export function restrictPage(v: EditorView, rules: readonly RestrictEntry[]): string {
  const rows = rules.map((r) => html`<tr data-rule="${target(r)}">
<td>${target(r)}</td><td>${r.flags.join(' ') || '(none: full access)'}</td><td class="comment">${r.comment ?? ''}</td>
<td>${r.file}:${r.line}${r.editable ? '' : ' (included, read-only)'}${r.errors.map((e) => html`<div class="field-error">${e}</div>`)}</td>
<td>${removeForm(v, r)}</td></tr>`);
  return layout({
    title: 'Access control (restrict)', active: '/restrict', csrf: v.csrf,
    body: html`${banner(v, FIELDS)}
<p>First match by longest prefix, as ntpd: a client gets the flags of the most specific rule that covers it, else the default.</p>
<table id="rules"><thead><tr><th>address</th><th>flags</th><th>comment</th><th>where</th><th></th></tr></thead>
<tbody>${rows.length ? rows : html`<tr><td colspan="5">no restrict lines: everyone is served, mode 6 is refused off the box (noquery)</td></tr>`}</tbody></table>
<datalist id="restrict-flags">${RESTRICT_FLAGS.map((f) => html`<option value="${f}">`)}</datalist>
<form method="post" action="/restrict" id="restrict-add"><fieldset><legend>Add a rule</legend>${hiddenFields(v, 'restrict-add')}
${textField(v, 'restrict-add', 'address', 'Address', { placeholder: '192.168.1.0' })}
${textField(v, 'restrict-add', 'prefixLength', 'Prefix length', { size: 4, placeholder: '24' })}
${textField(v, 'restrict-add', 'mask', 'or mask', { placeholder: '255.255.255.0' })}
${textField(v, 'restrict-add', 'flags', 'Flags', { size: 30, placeholder: 'nomodify noquery', list: 'restrict-flags' })}
<button type="submit">Add</button>
<p class="muted">Flags: ${RESTRICT_FLAGS.join(', ')} (separate with spaces).</p></fieldset></form>
<form method="post" action="/restrict" id="restrict-set-default"><fieldset><legend>Set the default rule</legend>${hiddenFields(v, 'restrict-set-default')}
<label>Family <select name="family"><option value="">both (restrict default)</option><option value="ipv4">IPv4 (restrict -4 default)</option><option value="ipv6">IPv6 (restrict -6 default)</option></select></label>
${textField(v, 'restrict-set-default', 'flags', 'Flags', { size: 30, placeholder: 'kod limited nomodify noquery', list: 'restrict-flags' })}
<button type="submit">Set default</button></fieldset></form>`,
  });
}
