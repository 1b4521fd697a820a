/**
 * The status page's browser script, served as /assets/status.js (CSP allows only scripts from
 * the box itself). It polls /api/status and /api/history every 2 s and builds the page with DOM
 * calls and textContent only, so no value from the daemon is ever parsed as HTML.
 */
export const STATUS_CLIENT_JS = String.raw`'use strict';
(function () {
  var $ = function (id) { return document.getElementById(id); };
  function el(tag, text, cls) { var e = document.createElement(tag); if (text !== undefined) e.textContent = String(text); if (cls) e.className = cls; return e; }
  function ms(ns, d) { return ns === null || ns === undefined ? '-' : (ns >= 0 ? '+' : '') + (ns / 1e6).toFixed(d === undefined ? 3 : d) + ' ms'; }
  function table(rows) {
    var t = el('table');
    rows.forEach(function (r) { var tr = el('tr'); tr.appendChild(el('th', r[0])); tr.appendChild(el('td', r[1])); t.appendChild(tr); });
    return t;
  }
  var NOT_REFUSALS = ['timecodes', 'pulses', 'pulsesAccepted', 'labelled', 'samples', 'accepted', 'samplesNotOnSecond', 'samplesUnmatched'];
  var lastServed = null;
  function render(s) {
    var srv = s.server;
    var state = $('sync-state');
    state.textContent = srv.synchronised ? (srv.state === 'holdover' ? 'holdover (' + srv.selected + ' lost)' : 'synchronised to ' + srv.selected) : 'unsynchronised: no usable reference';
    state.className = srv.synchronised ? 'ok' : 'bad';
    var selected = s.refclocks.filter(function (r) { return r.name === srv.selected; })[0];
    var now = Date.now() / 1000, served = s.counters.processed || 0, rate = '-';
    if (lastServed && now > lastServed.t) rate = ((served - lastServed.n) / (now - lastServed.t)).toFixed(1);
    lastServed = { t: now, n: served };
    var sys = $('system'); sys.replaceChildren(table([
      ['refid', srv.refid], ['stratum', srv.stratum], ['offset', selected && selected.estimate ? ms(selected.estimate.offsetNs) : '-'],
      ['jitter', selected && selected.estimate ? ms(selected.estimate.jitterNs).replace('+', '') : '-'],
      ['frequency', (srv.freqPpm >= 0 ? '+' : '') + srv.freqPpm.toFixed(3) + ' ppm'], ['correction', ms(srv.correctionNs, 6)],
      ['root dispersion', (srv.rootDispersionS * 1e3).toFixed(3) + ' ms'], ['clients served', rate + ' /s (' + served + ' replies)'],
      ['server path', (srv.path || '-') + (srv.path === 'fast' ? (srv.workersPerAddress === 0 ? ' (main thread)' : ' (' + srv.workersServing + ' workers' + (srv.workerRestarts ? ', ' + srv.workerRestarts + ' restarts' : '') + ')') : '')
        + (srv.pathReason ? ': ' + srv.pathReason : '')],
      ['uptime', s.daemon.uptimeS + ' s'],
    ]));
    var refs = $('refclocks'); refs.replaceChildren();
    if (s.refclocks.length === 0) refs.appendChild(el('p', 'no reference clocks configured (' + srv.selected + ')', 'muted'));
    s.refclocks.forEach(function (r) {
      var sec = el('section', undefined, 'refclock');
      sec.appendChild(el('h3', r.name + (r.name === srv.selected ? ' (selected)' : '')));
      var rows = [['reach', r.reach], ['offset', r.estimate ? ms(r.estimate.offsetNs) : 'no estimate'], ['jitter', r.estimate ? ms(r.estimate.jitterNs).replace('+', '') : '-']];
      if (r.counters.timecodes) rows.push(['fix', r.fix.mode + (r.fix.satellitesUsed === null ? '' : ', ' + r.fix.satellitesUsed + (r.fix.satellitesVisible === null ? '' : '/' + r.fix.satellitesVisible) + ' satellites') + (r.fix.hdop === null ? '' : ', HDOP ' + r.fix.hdop)]);
      if (r.phase) rows.push(['PPS phase', (r.phase.phaseNs === null ? 'unknown' : (r.phase.phaseNs / 1e6).toFixed(1) + ' ms') + ': ' + r.phase.state]);
      if ('pulses' in r.counters) {
        var reasons = Object.keys(r.counters).filter(function (k) { return NOT_REFUSALS.indexOf(k) < 0 && r.counters[k] > 0; })
          .map(function (k) { return k + ' ' + r.counters[k]; });
        rows.push(['PPS pulses', r.counters.pulses + ', used ' + (r.counters.pulsesAccepted || 0)]);
        rows.push(['refused', reasons.length ? reasons.join(', ') : 'none']);
      }
      r.drivers.forEach(function (d) { rows.push([d.driver, d.device + ': ' + d.state + (d.code ? ' ' + d.code : '')]); });
      sec.appendChild(table(rows));
      refs.appendChild(sec);
    });
    // Servers and peers as ntpq -p lists them: offset with ntpq's sign (the server minus us).
    var assocBox = $('associations'); assocBox.replaceChildren();
    var assocs = s.associations || [];
    if (assocs.length === 0) assocBox.appendChild(el('p', 'no servers or peers configured', 'muted'));
    else {
      var t = el('table'), head = el('tr');
      ['', 'remote', 'mode', 'st', 'poll', 'reach', 'delay', 'offset', 'jitter', 'refused'].forEach(function (h) { head.appendChild(el('th', h)); });
      t.appendChild(head);
      var MODES = { 1: 'peer', 2: 'passive', 3: 'server', 6: 'broadcast' };
      assocs.forEach(function (a) {
        var tr = el('tr'), f = a.filter;
        var tally = a.falseticker ? 'x' : a.name === srv.selected ? '*' : f && a.reach ? '+' : ' ';
        var refused = Object.keys(a.rejects).filter(function (k) { return a.rejects[k] > 0; }).map(function (k) { return k + ' ' + a.rejects[k]; })
          .concat(Object.keys(a.kod).map(function (k) { return 'KoD ' + k + ' ' + a.kod[k]; }));
        [tally, a.name, (MODES[a.hmode] || a.hmode) + (a.keyId ? ', key ' + a.keyId : ''), a.upstream ? a.upstream.stratum : '-', Math.pow(2, a.pollLog2S) + ' s',
          a.reach.toString(8), f ? ms(f.delayNs).replace('+', '') : '-', f ? ms(-f.offsetNs) : '-', f ? ms(f.jitterNs).replace('+', '') : '-',
          refused.length ? refused.join(', ') : (a.demobilised ? 'stopped' : '')].forEach(function (v) { tr.appendChild(el('td', v)); });
        t.appendChild(tr);
      });
      assocBox.appendChild(t);
    }
    var c = s.counters;
    $('packets').textContent = (c.received || 0) + ' received, ' + (c.processed || 0) + ' answered, ' + (c.restricted || 0) + ' restricted, ' +
      (c.rateLimited || 0) + ' rate-limited, ' + (c.kodSent || 0) + " kiss-o'-death";
    $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
  }
  var charts = {}, data = { t: [], offset: [], freq: [] }, lastT = -1;
  function chart(id, label, unit, key) {
    var box = $(id);
    if (typeof uPlot === 'undefined' || !box) return;
    charts[key] = new uPlot({ width: Math.min(900, box.clientWidth || 600), height: 200, title: label,
      series: [{}, { label: label, stroke: key === 'offset' ? '#1565c0' : '#c62828', value: function (u, v) { return v === null ? '-' : v.toFixed(3) + ' ' + unit; } }],
      axes: [{}, { label: unit }] }, [[], []], box);
  }
  function addPoints(points) {
    points.forEach(function (p) { data.t.push(p.t); data.offset.push(p.offsetMs); data.freq.push(p.freqPpm); lastT = p.t; });
    var cut = Date.now() / 1000 - 3600;
    while (data.t.length && data.t[0] < cut) { data.t.shift(); data.offset.shift(); data.freq.shift(); }
    if (charts.offset) charts.offset.setData([data.t, data.offset]);
    if (charts.freq) charts.freq.setData([data.t, data.freq]);
  }
  function tick() {
    fetch('/api/status', { credentials: 'same-origin' }).then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
      .then(function (s) { render(s); $('error').textContent = ''; })
      .catch(function (e) { $('error').textContent = 'cannot reach the daemon: ' + e.message; });
    fetch('/api/history?since=' + lastT, { credentials: 'same-origin' }).then(function (r) { return r.ok ? r.json() : []; }).then(addPoints).catch(function () {});
  }
  chart('chart-offset', 'offset', 'ms', 'offset');
  chart('chart-freq', 'frequency', 'ppm', 'freq');
  tick();
  setInterval(tick, 2000);
})();
`;
