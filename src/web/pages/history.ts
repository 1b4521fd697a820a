/** Config history: previous versions, a unified diff of one against the current file, rollback. */
import type { HistoryEntry } from '../../config/store.js';
import { html, layout } from '../html.js';
import { banner, type EditorView } from './editor-common.js';

export interface HistoryView {
  readonly entries: readonly HistoryEntry[];
  /** The version whose diff is shown, and that diff (previous → current). */
  readonly selected?: { readonly id: string; readonly diff: string };
  /** File vs what the daemon runs ('' when equal; null when no daemon answers). */
  readonly pendingDiff: string | null;
}

function diffBlock(diff: string, id: string) {
  return html`<pre class="diff" id="${id}">${diff}</pre>`;
}

export function historyPage(v: EditorView, h: HistoryView): string {
  const rows = h.entries.map((e) => html`<tr data-version="${e.id}"><td>${e.id}</td><td>${e.savedAt}</td><td>${e.bytes} bytes</td>
<td><a href="/history?id=${encodeURIComponent(e.id)}">diff to current</a></td>
<td><form method="post" action="/rollback" class="inline"><input type="hidden" name="csrf" value="${v.csrf}"><input type="hidden" name="etag" value="${v.etag}">
<input type="hidden" name="id" value="${e.id}"><button type="submit" data-rollback="${e.id}">Roll back to this</button></form></td></tr>`);
  return layout({
    title: 'Config history', active: '/history', csrf: v.csrf,
    body: html`${banner(v, [])}
<section><h2>File vs running daemon</h2>
${h.pendingDiff === null ? html`<p>No daemon answered: cannot compare.</p>` : h.pendingDiff === '' ? html`<p id="in-sync">The daemon runs this file.</p>` : diffBlock(h.pendingDiff, 'pending-diff')}</section>
<section><h2>Previous versions</h2>
<p>Each change keeps the version it replaced; rolling back is itself a change (and can be rolled back).</p>
<table id="history"><thead><tr><th>version</th><th>replaced at</th><th>size</th><th></th><th></th></tr></thead>
<tbody>${rows.length ? rows : html`<tr><td colspan="5">no previous versions yet</td></tr>`}</tbody></table></section>
${h.selected ? html`<section><h2>Version ${h.selected.id} → current</h2>${h.selected.diff === '' ? html`<p>identical</p>` : diffBlock(h.selected.diff, 'version-diff')}</section>` : ''}`,
  });
}
