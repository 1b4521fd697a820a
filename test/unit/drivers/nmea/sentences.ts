// Helpers for NMEA unit and property tests: checksummed sentences from their body (the simulator's, one implementation).
export { nmeaChecksum as checksum, nmeaSentence as sentence } from '../../../../drivers/sim/sentences.js';

export function bytes(...lines: string[]): Buffer {
  return Buffer.from(lines.map((l) => l + '\r\n').join(''), 'latin1');
}
