/**
 * Static files: the stylesheet, the status script and uPlot, read from node_modules at start-up
 * (served from the box itself, never a CDN).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { STATUS_CLIENT_JS } from './pages/status-client.js';

export interface Asset {
  readonly type: string;
  readonly body: Buffer;
}

const CSS = `body{font:15px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#263238;color:#fff;padding:.5em 1em;display:flex;gap:1.5em;align-items:center}
header a{color:#cfd8dc;margin-right:1em}header a[aria-current]{color:#fff;font-weight:bold}
.account{margin-left:auto}.account a,.account button{color:#fff;background:none;border:1px solid #90a4ae;padding:.2em .6em;cursor:pointer}
main{padding:1em 2em;max-width:1100px}
table{border-collapse:collapse;margin:.5em 0}th,td{text-align:left;padding:.25em .8em;border-bottom:1px solid #e0e0e0;vertical-align:top}
th{font-weight:600;color:#455a64}
.columns{display:flex;flex-wrap:wrap;gap:2em}.columns>section{flex:1;min-width:320px}
.state{font-size:1.3em;font-weight:bold}.ok{color:#2e7d32}.bad{color:#c62828}
.field-error{color:#c62828;margin-left:.5em}.notice{background:#fff3e0;padding:.5em 1em;border-left:4px solid #ef6c00}
.success{background:#e8f5e9;padding:.5em 1em;border-left:4px solid #2e7d32}
.muted{color:#78909c}.chart{margin:1em 0}form.inline{display:inline}
pre.diff{background:#263238;color:#eceff1;padding:1em;overflow:auto}
fieldset{border:1px solid #cfd8dc;margin:1em 0;padding:.5em 1em}label{margin-right:1em}
code{background:#eceff1;padding:0 .2em}
`;

function uplotFile(name: string): Buffer {
  const require = createRequire(import.meta.url);
  return readFileSync(join(dirname(require.resolve('uplot/package.json')), 'dist', name));
}

/** Every asset by URL path. */
export function loadAssets(): Map<string, Asset> {
  return new Map<string, Asset>([
    ['/assets/gnomon.css', { type: 'text/css; charset=utf-8', body: Buffer.from(CSS) }],
    ['/assets/status.js', { type: 'text/javascript; charset=utf-8', body: Buffer.from(STATUS_CLIENT_JS) }],
    ['/assets/uPlot.iife.min.js', { type: 'text/javascript; charset=utf-8', body: uplotFile('uPlot.iife.min.js') }],
    ['/assets/uPlot.min.css', { type: 'text/css; charset=utf-8', body: uplotFile('uPlot.min.css') }],
  ]);
}
