import { SerialPortMock } from 'serialport';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../../../src/clock/fake.js';
import { recordingContext } from '../../../support/driver-context.js';
import { NmeaDriver, NmeaDriverError, type SerialLine } from '../../../../drivers/nmea/io.js';
import { bytes } from './sentences.js';

/** The mock binding's port (emitData, read); typed through SerialPortMock to use serialport's own copy. */
type MockPortBinding = NonNullable<SerialPortMock['port']>;

const PATH = '/dev/gps-test';
const RMC40 = '$GPRMC,202640.000,A,4404.1306,N,12118.8515,W,0.03,225.97,130415,,,D*73';
const GGA40 = '$GPGGA,202640.000,4404.1306,N,12118.8515,W,2,10,0.98,1127.7,M,-19.6,M,0000,0000*6C';
const RMC41 = '$GPRMC,202641.000,A,4404.1305,N,12118.8515,W,0.01,201.71,130415,,,D*7D';
const PIVOT_2010 = BigInt(Date.parse('2010-01-01T00:00:00Z')) * 1_000_000n;

function fakeContext(clock: FakeClock) {
  return recordingContext(clock, 'NMEA(0)');
}

const until = async (cond: () => boolean, ms = 3000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
};

function rig() {
  const lines: SerialPortMock[] = [];
  const clock = new FakeClock(1_700_000_000_000_000_000n);
  const driver = new NmeaDriver({
    path: PATH, baud: 9600, pivotUnixNs: PIVOT_2010, quietMs: 10, initialBackoffMs: 10, maxBackoffMs: 40,
    openLine: (o) => {
      const line = new SerialPortMock(o);
      lines.push(line);
      return line as SerialLine;
    },
  });
  const binding = () => lines.at(-1)!.port as MockPortBinding;
  return { clock, driver, lines, binding, ...fakeContext(clock) };
}

afterEach(() => SerialPortMock.binding.reset());

describe('NmeaDriver (serialport MockBinding)', () => {
  it('refuses a baud rate outside 4800-115200 with a coded error', () => {
    expect(() => new NmeaDriver({ path: PATH, baud: 1200 })).toThrow(NmeaDriverError);
    try {
      new NmeaDriver({ path: PATH, baud: 250000 });
    } catch (err) {
      expect((err as NmeaDriverError).code).toBe('NMEA_BAD_BAUD');
    }
  });

  it('a missing device fails init loudly, naming the device and the likely fix', async () => {
    const r = rig();
    await expect(r.driver.init(r.ctx)).rejects.toMatchObject({ code: 'NMEA_DEVICE_MISSING', message: expect.stringContaining(PATH) });
    expect(r.logged).toEqual(['starting', 'stopped NMEA_DEVICE_MISSING']);
  });

  it('reports one sample per epoch, stamped with the injected clock at arrival, when the line goes quiet', async () => {
    SerialPortMock.binding.createPort(PATH);
    const r = rig();
    await r.driver.init(r.ctx);
    r.binding().emitData(bytes(RMC40, GGA40));
    await until(() => r.samples.length === 1);
    const s = r.samples[0]!;
    expect(s.referenceTime).toEqual({ sec: Date.parse('2015-04-13T20:26:40Z') / 1000, nsec: 0 });
    // First byte of the chunk: arrival minus the transmission time of the rest of the chunk at 9600 baud.
    const chunkLen = bytes(RMC40, GGA40).length;
    const expectedNs = 1_700_000_000_000_000_000n - BigInt(chunkLen - 1) * 1_041_667n;
    expect(BigInt(s.systemTime.sec) * 1_000_000_000n + BigInt(s.systemTime.nsec)).toBe(expectedNs);
    expect(s.fix).toEqual({ mode: '3d', satellitesUsed: 10, satellitesVisible: null, hdop: 0.98 });
    expect(s.leap).toBe('unknown');
    expect(r.counters()).toMatchObject({ sentences: 2, epochs: 1, checksumBad: 0 });
    await r.driver.close();
    expect(r.logged).toEqual(['starting', 'running', 'stopped']);
  });

  it('when the device disappears: logs once, retries with backoff, recovers when it is back', async () => {
    SerialPortMock.binding.createPort(PATH);
    const r = rig();
    await r.driver.init(r.ctx);
    // Unplug: the next read fails as a vanished tty does, and the device node is gone.
    const binding = r.binding();
    binding.read = () => Promise.reject(Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' }));
    SerialPortMock.binding.reset();
    binding.emitData(bytes(RMC40));
    await until(() => r.logged.includes('reconnecting NMEA_DEVICE_MISSING'));
    await new Promise((resolve) => setTimeout(resolve, 120)); // several retries, no new log lines
    const attempts = r.lines.length;
    expect(attempts).toBeGreaterThan(2);
    // Replug.
    SerialPortMock.binding.createPort(PATH);
    await until(() => r.logged.at(-1) === 'running');
    r.binding().emitData(bytes(RMC41));
    await until(() => r.samples.some((s) => s.referenceTime.sec === Date.parse('2015-04-13T20:26:41Z') / 1000));
    expect(r.logged).toEqual(['starting', 'running', 'reconnecting NMEA_DISCONNECTED', 'reconnecting NMEA_DEVICE_MISSING', 'running']);
    await r.driver.close();
  });

  it('close() stops retrying', async () => {
    SerialPortMock.binding.createPort(PATH);
    const r = rig();
    await r.driver.init(r.ctx);
    const binding = r.binding();
    binding.read = () => Promise.reject(new Error('EIO'));
    SerialPortMock.binding.reset();
    binding.emitData('x');
    await until(() => r.logged.some((l) => l.startsWith('reconnecting')));
    await r.driver.close();
    const attempts = r.lines.length;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(r.lines.length).toBe(attempts);
    expect(r.logged.at(-1)).toBe('stopped');
  });
});
