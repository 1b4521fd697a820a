/** The status page: a frame the browser script (status-client.ts) fills from /api/status every 2 s. */
import { html, layout } from '../html.js';

export function statusPage(csrf: string | undefined): string {
  return layout({
    title: 'Status', active: '/', csrf,
    scripts: ['/assets/uPlot.iife.min.js', '/assets/status.js'],
    body: html`<p id="sync-state" class="state">loading...</p>
<p id="error" class="field-error" role="alert"></p>
<div class="columns">
<section><h2>System</h2><div id="system"></div></section>
<section><h2>References</h2><div id="refclocks"></div></section>
</div>
<section><h2>Servers and peers</h2><div id="associations"></div></section>
<section><h2>Last hour</h2>
<div id="chart-offset" class="chart"></div>
<div id="chart-freq" class="chart"></div>
</section>
<section><h2>NTP packets</h2><p id="packets"></p></section>
<p class="muted"><span id="updated"></span> · <a href="/api/status">JSON</a> · <a href="/metrics">metrics</a></p>
<noscript>This page updates with JavaScript; <a href="/api/status">/api/status</a> has the same data.</noscript>`,
  });
}
