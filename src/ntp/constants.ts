/**
 * NTPv4 wire constants (RFC 5905 section 7.3), named as the RFC names them.
 */

/** LI field: warning of an impending leap second, or "unsynchronised". */
export enum LeapIndicator {
  NoWarning = 0,
  /** Last minute of the day has 61 seconds. */
  AddSecond = 1,
  /** Last minute of the day has 59 seconds. */
  DeleteSecond = 2,
  /** Clock unsynchronised: clients must not use the time. */
  Unsynchronised = 3,
}

export enum Mode {
  Reserved = 0,
  SymmetricActive = 1,
  SymmetricPassive = 2,
  Client = 3,
  Server = 4,
  Broadcast = 5,
  Control = 6,
  Private = 7,
}

/** Current protocol version; `restrict ... version` serves only this one. */
export const NTP_VERSION = 4;
/** Oldest version still answered (RFC 5905 appendix: v1-v3 clients are served). */
export const NTP_OLDEST_VERSION = 1;

/** The fixed header, bytes. */
export const NTP_HEADER_LENGTH = 48;

/** Stratum 16 = unsynchronised (RFC 5905 fig. 11); stratum 0 in a reply is a kiss-o'-death. */
export const STRATUM_UNSYNCHRONISED = 16;
export const STRATUM_KISS = 0;

/** Maximum dispersion, seconds (RFC 5905 MAXDISP). */
export const MAXDISP_S = 16;
/** Dispersion growth while not updated, seconds per second (RFC 5905 PHI = 15 ppm). */
export const PHI_S_PER_S = 15e-6;

/** Seconds from the NTP prime epoch (1900-01-01) to the Unix epoch (1970-01-01). */
export const NTP_UNIX_EPOCH_OFFSET_S = 2_208_988_800;

/** Builds a refid/kiss code from four ASCII characters, as a big-endian u32. */
export function asciiRefId(code: string): number {
  let id = 0;
  for (let i = 0; i < 4; i++) {
    const c = i < code.length ? code.charCodeAt(i) & 0x7f : 0;
    id = (id * 256 + c) >>> 0;
  }
  return id;
}

/** Kiss codes the server sends (RFC 5905 section 7.4). */
export const KissCode = {
  /** Access denied by the remote server. */
  DENY: asciiRefId('DENY'),
  /** Access denied due to local policy. */
  RSTR: asciiRefId('RSTR'),
  /** Rate exceeded: the client must reduce its poll rate. */
  RATE: asciiRefId('RATE'),
} as const;

/** Renders a refid as ntpq does: four ASCII characters at stratum 0/1, otherwise a dotted quad. */
export function formatRefId(refId: number, stratum: number): string {
  if (stratum <= 1 || stratum === STRATUM_UNSYNCHRONISED) {
    let s = '';
    for (let shift = 24; shift >= 0; shift -= 8) {
      const c = (refId >>> shift) & 0xff;
      if (c === 0) break;
      s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '?';
    }
    return s;
  }
  return [refId >>> 24, (refId >>> 16) & 0xff, (refId >>> 8) & 0xff, refId & 0xff].join('.');
}
