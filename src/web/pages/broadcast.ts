/** The broadcast editor: mode 5 destinations (broadcast or multicast), add / remove. */
import type { BroadcastEntry } from '../../config/store.js';
import { html, layout } from '../html.js';
import { banner, hiddenFields, textField, type EditorView } from './editor-common.js';

const FIELDS = ['address', 'ttl', 'key', 'minpoll', 'version'];

export function broadcastPage(v: EditorView, lines: readonly BroadcastEntry[]): string {
  const rows = lines.map((b) => html`<tr data-broadcast="${b.address}">
<td>${b.address}</td><td>${b.multicast ? 'multicast' : 'broadcast'}</td><td>${b.ttl}</td><td>${b.minpoll}</td><td>${b.version}</td><td>${b.key ?? '-'}</td>
<td class="comment">${b.comment ?? ''}</td><td>${b.file}:${b.line}${b.editable ? '' : ' (included, read-only)'}${b.errors.map((e) => html`<div class="field-error">${e}</div>`)}</td>
<td>${b.editable ? html`<form method="post" action="/broadcast" class="inline">${hiddenFields(v, 'broadcast-remove')}<input type="hidden" name="address" value="${b.address}"><button type="submit">Remove</button></form>` : ''}</td></tr>`);
  return layout({
    title: 'Broadcast / multicast', active: '/broadcast', csrf: v.csrf,
    body: html`${banner(v, FIELDS)}
<p>While synchronised, the server sends mode 5 packets to each destination every 2<sup>minpoll</sup> s (docs/broadcast.md).</p>
<table id="broadcasts"><thead><tr><th>address</th><th>kind</th><th>ttl</th><th>minpoll</th><th>version</th><th>key</th><th>comment</th><th>where</th><th></th></tr></thead>
<tbody>${rows.length ? rows : html`<tr><td colspan="9">no broadcast lines</td></tr>`}</tbody></table>
<form method="post" action="/broadcast" id="broadcast-add"><fieldset><legend>Add a destination</legend>${hiddenFields(v, 'broadcast-add')}
${textField(v, 'broadcast-add', 'address', 'Address', { placeholder: '224.0.1.1 or 192.168.1.255' })}
${textField(v, 'broadcast-add', 'ttl', 'TTL', { size: 4, placeholder: '1' })}
${textField(v, 'broadcast-add', 'minpoll', 'minpoll', { size: 4, placeholder: '6' })}
${textField(v, 'broadcast-add', 'key', 'key', { size: 6 })}
${textField(v, 'broadcast-add', 'version', 'version', { size: 3, placeholder: '4' })}
<button type="submit">Add</button></fieldset></form>`,
  });
}
