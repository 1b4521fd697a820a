// NTPsec's ntpq and ntpstat against Gnomon on the GPS simulator (`gnomon demo`), as an admin would
// use them over SSH. NTPsec's tools only talk to port 123, so Gnomon runs inside a namespace; a second
// namespace joined by a veth pair is "the LAN", which the default `restrict ... noquery` keeps out of
// mode 6 while mode 3 still serves it. Ports: 123 inside the namespaces only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemo, waitForPps, type Demo } from './harness/demo.js';
import { Netns, vethPair } from './harness/netns.js';
import { pollUntil, Teardown } from './harness/process.js';
import { ntpdig } from './harness/ntpsec.js';
import { GNOMON_MAIN } from './harness/daemon.js';

const NET = '10.250.124';

describe('ntpq and ntpstat against Gnomon (simulated GPS + PPS)', () => {
  const teardown = new Teardown();
  let server: Netns;
  let lan: Netns;
  let demo: Demo;
  const ntpq = async (...args: string[]) => {
    const r = await server.run('ntpq', [...args, '127.0.0.1'], { timeoutMs: 20_000 });
    return { ...r, why: `ntpq ${args.join(' ')} → ${r.code}\n${r.stdout}\n${r.stderr}` };
  };

  beforeAll(async () => {
    server = await Netns.create();
    teardown.add(`namespace ${server.name}`, () => server.destroy());
    lan = await Netns.create();
    teardown.add(`namespace ${lan.name}`, () => lan.destroy());
    await vethPair(server, lan, NET);
    demo = await startDemo(['--listen', '127.0.0.1:123', '--listen', `${NET}.1:123`], teardown, server);
    await waitForPps(demo, 40_000);
    // The first reach poll comes 10 s after start: wait for it, so reach shows 1.
    const polled = await pollUntil(async () => ((await demo.status()).refclocks.every((r) => r.reach !== '0') ? true : undefined), 20_000, 500);
    expect(polled, demo.proc.describe()).toBe(true);
  }, 90_000);
  afterAll(() => teardown.run(), 30_000);

  it('ntpq -p and -pn: the NMEA row is the sys.peer (*), the PPS row the pps.peer (o), stratum 0 refclocks, reach in octal; gnomon peers prints the same table', async () => {
    const p = await ntpq('-p');
    expect(p.code, p.why).toBe(0);
    const lines = p.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^\s+remote\s+refid\s+st t when poll reach\s+delay\s+offset\s+jitter$/);
    // `when` is "-" for less than a second (ntpq's prettyinterval(0)).
    expect(lines.find((l) => l.startsWith('*GPS_NMEA(0)')), p.why).toMatch(/^\*GPS_NMEA\(0\)\s+\.GPS\.\s+0 l\s+(\d+|-)\s+16\s+[0-7]+\s/);
    const pps = lines.find((l) => l.startsWith('oPPS(0)'));
    expect(pps, p.why).toMatch(/^oPPS\(0\)\s+\.PPS\.\s+0 l\s+(\d+|-)\s+16\s+[0-7]+\s+0\.0000\s+-?\d+\.\d+\s+\d+\.\d+$/);
    // The PPS offset is the simulated host's (0 ms): well under a millisecond.
    expect(Math.abs(Number(pps!.trim().split(/\s+/).at(-2)))).toBeLessThan(1);
    // Gnomon's own ntpq -p, from the same mode 6 data: the same rows but for the moving columns.
    const ours = await server.run(process.execPath, [GNOMON_MAIN, 'peers'], { timeoutMs: 20_000 });
    expect(ours.code, ours.stderr).toBe(0);
    const fixed = (t: string) => t.trimEnd().split('\n').map((l) => l.split(/\s+/).filter((_, i) => i !== 4 && i < 7).join(' '));
    expect(fixed(ours.stdout)).toEqual(fixed(p.stdout));
    // -n: as with ntpd, a refclock still shows its srchost name, not 127.127.T.U (04_ntpq_n_peers.out).
    const pn = await ntpq('-pn');
    expect(pn.code, pn.why).toBe(0);
    expect(pn.stdout, pn.why).toMatch(/^oPPS\(0\)\s+\.PPS\./m);
  });

  it('ntpq -c rv, -c as, rv &N, cv &N: the system and each association as ntpd shows them', async () => {
    const rv = await ntpq('-c', 'rv');
    expect(rv.code, rv.why).toBe(0);
    expect(rv.stdout, rv.why).toMatch(/status=[0-9a-f]{4} leap_none, sync_pps/);
    expect(rv.stdout, rv.why).toMatch(/stratum=1,/);
    expect(rv.stdout, rv.why).toMatch(/refid=PPS,/);
    expect(rv.stdout, rv.why).toMatch(/version="gnomon /);
    const as = await ntpq('-c', 'as');
    expect(as.code, as.why).toBe(0);
    expect(as.stdout, as.why).toMatch(/^\s+1 10001\s+9[0-9a-f]00\s+yes\s+yes\s+none\s+sys\.peer/m);
    expect(as.stdout, as.why).toMatch(/^\s+2 10002\s+97[0-9a-f]{2}\s+yes\s+yes\s+none\s+pps\.peer/m);
    const rv2 = await ntpq('-c', 'rv &2');
    expect(rv2.code, rv2.why).toBe(0);
    expect(rv2.stdout, rv2.why).toMatch(/srcadr=127\.127\.22\.0,/);
    expect(rv2.stdout, rv2.why).toMatch(/srchost="PPS\(0\)"/);
    const cv = await ntpq('-c', 'cv &1');
    expect(cv.code, cv.why).toBe(0);
    expect(cv.stdout, cv.why).toMatch(/name="NMEA"/);
    // The last time-bearing sentence the receiver sent, as ntpd's NMEA driver shows it.
    expect(cv.stdout, cv.why).toMatch(/timecode="\$G[NP](RMC|GGA|ZDA),[^"]*\*[0-9A-F]{2}"/);
  });

  it('ntpq -c sysinfo, sysstats and mrulist answer; ntpstat says synchronised at stratum 1', async () => {
    const sysinfo = await ntpq('-c', 'sysinfo');
    expect(sysinfo.code, sysinfo.why).toBe(0);
    expect(sysinfo.stdout, sysinfo.why).toMatch(/^stratum:\s+1$/m);
    expect(sysinfo.stdout, sysinfo.why).toMatch(/^reference ID:\s+PPS$/m);
    const sysstats = await ntpq('-c', 'sysstats');
    expect(sysstats.code, sysstats.why).toBe(0);
    expect(sysstats.stdout, sysstats.why).toMatch(/^control requests:\s+\d+/m);
    expect(sysstats.stdout, sysstats.why).toMatch(/^processed for time:\s+\d+/m);
    // A mode 3 client first, so the MRU list has a client to show.
    await server.run(process.execPath, [GNOMON_MAIN, 'query', '127.0.0.1', '--port', '123', '--samples', '1'], { timeoutMs: 20_000 });
    const mru = await ntpq('-c', 'mrulist');
    expect(mru.code, mru.why).toBe(0);
    expect(mru.stdout, mru.why).toMatch(/lstint avgint rstr r m v\s+count/);
    expect(mru.stdout, mru.why).toMatch(/localhost|127\.0\.0\.1/);
    const stat = await server.run('ntpstat', [], { timeoutMs: 20_000 });
    expect(stat.code, `${stat.stdout}${stat.stderr}`).toBe(0);
    expect(stat.stdout).toMatch(/^synchronised to .* at stratum 1/);
  });

  it('from the LAN the default restrict (noquery) gets no mode 6 answer; mode 3 still serves it', async () => {
    const p = await lan.run('ntpq', ['-p', `${NET}.1`], { timeoutMs: 30_000 });
    expect(`${p.stdout}${p.stderr}`).toMatch(/timed out|Request timed out/i);
    expect(p.stdout).not.toMatch(/PPS\(0\)/);
    const time = await ntpdig(lan, `${NET}.1`);
    expect(time.answer, `${time.run.stdout}${time.run.stderr}`).toBeDefined();
    expect(time.answer!.stratum).toBe(1);
    // The LAN client is in the MRU list with the mode, version and port of its request, whichever thread served it.
    const mru = await ntpq('-n', '-c', 'mrulist');
    expect(mru.code, mru.why).toBe(0);
    const row = mru.stdout.split('\n').find((l) => l.trim().endsWith(`${NET}.2`));
    expect(row, mru.why).toBeDefined();
    // NTPsec's columns: lstint avgint rstr r m v count score drop rport remote-address
    const [, mode, version, count, port] = /\s(\d)\s+(\d)\s+(\d+)\s+\S+\s+\d+\s+(\d+)\s+\S+$/.exec(row!) ?? [];
    expect([mode, version], row).toEqual(['3', '4']);
    expect(Number(count), row).toBeGreaterThanOrEqual(1);
    expect(Number(port), row).toBeGreaterThan(0);
  }, 60_000);
});
