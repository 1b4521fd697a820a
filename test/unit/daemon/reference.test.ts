import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/parse.js';
import { planReference, snapshotFor } from '../../../src/daemon/reference.js';
import { LeapIndicator, STRATUM_UNSYNCHRONISED, asciiRefId } from '../../../src/ntp/constants.js';

const now = { seconds: 0xeead11a1, fraction: 0 };
function plan(text: string) {
  const r = parseConfigText(text, 'test.conf');
  expect(r.config, JSON.stringify(r.diagnostics)).toBeDefined();
  return planReference(r.config!);
}

describe('reference plan (until the discipline exists)', () => {
  it('the local clock is served at the fudge stratum (chrony `local stratum N` semantics)', () => {
    const p = plan('server 127.127.1.0\nfudge 127.127.1.0 stratum 7\n');
    expect(p).toMatchObject({ kind: 'local', stratum: 7 });
    const s = snapshotFor(p, -22, now);
    expect(s).toMatchObject({ leap: LeapIndicator.NoWarning, stratum: 7, referenceId: asciiRefId('LOCL'), referenceTime: now });
  });

  it('without a fudge line the local clock takes ntpd\'s default stratum 5', () => {
    expect(plan('server 127.127.1.0\n')).toMatchObject({ kind: 'local', stratum: 5 });
  });

  it('no reference → unsynchronised (LI 3, stratum 16), and the ignored lines are named', () => {
    const p = plan('server pool.ntp.org iburst\npeer 192.0.2.7\nserver 127.127.20.0\n');
    expect(p.kind).toBe('none');
    expect(p.upstream).toEqual(['server pool.ntp.org', 'peer 192.0.2.7']);
    expect(p.unsupported).toEqual(['127.127.20.0']);
    const s = snapshotFor(p, -22, now);
    expect(s.leap).toBe(LeapIndicator.Unsynchronised);
    expect(s.stratum).toBe(STRATUM_UNSYNCHRONISED);
  });
});
