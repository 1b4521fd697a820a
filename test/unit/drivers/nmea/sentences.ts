// Helpers for NMEA unit and property tests: checksummed sentences from their body.
export function checksum(body: string): string {
  let sum = 0;
  for (let i = 0; i < body.length; i++) sum ^= body.charCodeAt(i);
  return sum.toString(16).toUpperCase().padStart(2, '0');
}

/** "GPRMC,..." → "$GPRMC,...*hh" */
export function sentence(body: string): string {
  return `$${body}*${checksum(body)}`;
}

export function bytes(...lines: string[]): Buffer {
  return Buffer.from(lines.map((l) => l + '\r\n').join(''), 'latin1');
}
