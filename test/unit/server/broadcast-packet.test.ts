// Mode 5 packets: a hand-checked byte layout, and the bytes chronyd 4.3 broadcasts for the same state.
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../src/clock/fake.js';
import { Timescale } from '../../../src/clock/timescale.js';
import { LeapIndicator } from '../../../src/ntp/constants.js';
import { MAX_MAC_BYTES, NO_MAC, encodeBroadcast, isSynchronised, type ServedClock } from '../../../src/server/broadcast-packet.js';
import { ServerStateCell, unsynchronisedSnapshot } from '../../../src/server/state.js';
import { START_NS, syncedSnapshot } from '../../support/server.js';

const hex = (b: Buffer, n = b.length): string => b.subarray(0, n).toString('hex');

function encode(state: ServerStateCell, options = { version: 4, pollLog2: 6 }, clockNs = START_NS): Buffer {
  const out = Buffer.alloc(48 + MAX_MAC_BYTES, 0xaa); // garbage: every byte of the header must be written
  const n = encodeBroadcast(out, state, new Timescale(new FakeClock(clockNs)), options);
  expect(n).toBe(48);
  return out.subarray(0, n);
}

describe('mode 5 packet layout', () => {
  it('matches the hand-checked bytes (RFC 5905 fig. 8)', () => {
    // syncedSnapshot: stratum 1, precision -24, root delay 46 µs, root dispersion 1.099 ms, refid GPS,
    // reference time START - 5 s; START = 2026-11-22 Unix 1795333730.123456789.
    const packet = encode(new ServerStateCell(syncedSnapshot()));
    expect(hex(packet)).toBe([
      '25', //        LI 0 | VN 4 | mode 5 = 00 100 101
      '01', //        stratum 1
      '06', //        poll 6 (64 s)
      'e8', //        precision -24
      '00000004', //  root delay: ceil(0.000046 * 65536) = 4
      '00000049', //  root dispersion: ceil(0.001099 * 65536) = 73
      '47505300', //  refid "GPS\0"
      'eead1cdd', '1f9add37', // reference time: 1795333725 + 2208988800 s, 0.123456789 * 2^32
      '0000000000000000', //    origin: zero
      '0000000000000000', //    receive: zero
      'eead1ce2', '1f9add37', // transmit: served time, 1795333730.123456789
    ].join(''));
  });

  it('takes LI from the snapshot and the version and poll from the line', () => {
    const state = new ServerStateCell({ ...syncedSnapshot(2), leap: LeapIndicator.AddSecond });
    const packet = encode(state, { version: 3, pollLog2: 4 });
    expect(packet[0]).toBe(0b01_011_101);
    expect(packet[1]).toBe(2);
    expect(packet[2]).toBe(4);
  });

  it('writes the transmit timestamp last, then hands the packet to the MAC hook', () => {
    const state = new ServerStateCell(syncedSnapshot());
    const out = Buffer.alloc(48 + MAX_MAC_BYTES);
    let headerWhenStamped = '';
    const clock: ServedClock = {
      writeNtp(buf, offset) {
        headerWhenStamped = hex(buf, 40);
        buf.writeUInt32BE(0x11111111, offset);
        buf.writeUInt32BE(0x22222222, offset + 4);
      },
    };
    let macSaw = '';
    const n = encodeBroadcast(out, state, clock, { version: 4, pollLog2: 6, keyId: 7 }, (packet, length, keyId) => {
      macSaw = hex(packet, length);
      packet.writeUInt32BE(keyId, length);
      packet.fill(0xcc, length + 4, length + 24);
      return 24;
    });
    expect(headerWhenStamped).toBe(hex(out, 40));
    expect(macSaw.slice(80)).toBe('1111111122222222');
    expect(n).toBe(72);
    expect(out.readUInt32BE(48)).toBe(7);
  });

  it('without authentication (NO_MAC) a keyed line still sends the bare 48 bytes', () => {
    const out = Buffer.alloc(48 + MAX_MAC_BYTES);
    const clock = new Timescale(new FakeClock(START_NS));
    expect(encodeBroadcast(out, new ServerStateCell(syncedSnapshot()), clock, { version: 4, pollLog2: 6, keyId: 7 }, NO_MAC)).toBe(48);
  });

  it('is sent only while synchronised: stratum < 16 and LI != 3', () => {
    expect(isSynchronised(syncedSnapshot())).toBe(true);
    expect(isSynchronised(unsynchronisedSnapshot(-20))).toBe(false);
    expect(isSynchronised({ ...syncedSnapshot(), leap: LeapIndicator.Unsynchronised })).toBe(false);
    expect(isSynchronised({ ...syncedSnapshot(), stratum: 16 })).toBe(false);
  });
});

describe('against chronyd 4.3 `broadcast 1 10.250.77.255 123` (local stratum 3), captured with tshark in a namespace', () => {
  // udp.payload of the first captured packet (src 10.250.77.1:123 → 10.250.77.255:123).
  const chronyd = Buffer.from('250300e700000000000000007f7f0101eead4a8a1a26464b00000000000000000000000000000000eead4a8bd1f88b7b', 'hex');

  it('gives the same bytes for the same state (the transmit fraction within chronyd\'s random low bits)', () => {
    const state = new ServerStateCell({
      leap: LeapIndicator.NoWarning, stratum: 3, precisionLog2S: -25, rootDelayS: 0, rootDispersionS: 0,
      referenceId: 0x7f7f0101, // chronyd's local reference: 127.127.1.1
      referenceTime: { seconds: chronyd.readUInt32BE(16), fraction: chronyd.readUInt32BE(20) },
    });
    // chronyd's transmit time as Unix ns (its 1 s interval is poll 0).
    const xmtSeconds = chronyd.readUInt32BE(40) - 2_208_988_800;
    const xmtNs = BigInt(xmtSeconds) * 1_000_000_000n + (BigInt(chronyd.readUInt32BE(44)) * 1_000_000_000n >> 32n);
    const ours = encode(state, { version: 4, pollLog2: 0 }, xmtNs);
    expect(hex(ours, 44)).toBe(hex(chronyd, 44));
    // chronyd fills the bits below its precision (2^-25 s = 128 fraction units) with random noise.
    expect(Math.abs(ours.readUInt32BE(44) - chronyd.readUInt32BE(44))).toBeLessThan(2 ** 7 + 8);
  });
});
