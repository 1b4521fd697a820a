/**
 * The appliance's /etc/gnomon/ntp.conf (image/rootfs/etc/gnomon/ntp.conf): valid for the daemon's own
 * compiler and for `gnomon config validate` (the built CLI), with no warnings, and saying what the
 * appliance needs: NMEA on /dev/gps0, kernel PPS on /dev/pps0, port 123, kernel steering, no `user`.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { output, REPO, ROOTFS, run } from './tools.js';

const FILE = `${ROOTFS}/etc/gnomon/ntp.conf`;

describe('the appliance ntp.conf', () => {
  test('loads with no errors and no warnings', async () => {
    const result = await loadConfig(FILE);
    expect(result.diagnostics).toEqual([]);
    expect(result.config).toBeDefined();
  });

  test('gnomon config validate accepts it', () => {
    const r = run(process.execPath, [`${REPO}dist/src/cli/main.js`, 'config', 'validate', '--config', FILE]);
    expect(r.status, output(r)).toBe(0);
    expect(r.stdout).toContain('valid, 0 warnings');
  });

  test('the GPS on the UART and kernel PPS, port 123 everywhere, steering on, no user', async () => {
    const { config } = await loadConfig(FILE);
    expect(config?.refclocks.map((r) => [r.kind, r.path])).toEqual([['nmea', '/dev/gps0'], ['pps-kernel', '/dev/pps0']]);
    expect(config?.refclocks[0]).toMatchObject({ baudBps: 9600, prefer: true });
    expect(config?.port).toBe(123);
    expect(config?.listen).toEqual([]);
    expect(config?.kernel).toBe(true);
    expect(config?.user).toBeUndefined(); // systemd starts it as gnomon
    expect(config?.leapfile?.path).toBe('/usr/share/zoneinfo/leap-seconds.list');
    expect(config?.driftfile).toBe('/var/lib/gnomon/ntp.drift');
    expect(config?.stats?.dir).toBe('/var/log/ntpstats');
    expect(config?.stats?.enabled).toMatchObject({ loopstats: true, peerstats: true });
  });

  test('time for all, queries only from the box and the private ranges, rate limits on the default', () => {
    const raw = readFileSync(FILE, 'utf8');
    expect(raw).toMatch(/^restrict default kod limited nomodify notrap nopeer noquery$/m);
    expect(raw).toMatch(/^restrict -6 default kod limited nomodify notrap nopeer noquery$/m);
    expect(raw).toMatch(/^restrict 127\.0\.0\.1$/m);
    expect(raw).toMatch(/^restrict ::1$/m);
    expect(raw).toMatch(/^restrict 192\.168\.0\.0\/16 nomodify notrap nopeer$/m);
  });
});
