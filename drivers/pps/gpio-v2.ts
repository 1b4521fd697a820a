/**
 * The GPIO character device v2 ABI, written from linux/gpio.h (uapi). Pure: bytes in, values out.
 *
 * Layouts are the same on every Linux architecture: all fields are fixed-width and the u64s are
 * `__aligned_u64`, so there is no 32/64-bit difference; multi-byte fields are host-endian, which
 * is little-endian on every Pi (armhf, arm64).
 */

/** `_IOWR(type, nr, size)` from asm-generic/ioctl.h (used by arm, arm64 and x86). */
export function iowr(type: number, nr: number, size: number): number {
  const IOC_READ_WRITE = 3;
  return ((IOC_READ_WRITE << 30) | (size << 16) | (type << 8) | nr) >>> 0;
}

export const GPIO_MAX_NAME_SIZE = 32;
export const GPIO_V2_LINES_MAX = 64;
export const GPIO_V2_LINE_NUM_ATTRS_MAX = 10;

/** sizeof(struct gpio_v2_line_request): offsets[64] u32, consumer[32], config (272), num_lines, event_buffer_size, padding[5], fd. */
export const LINE_REQUEST_SIZE = 592;
/** sizeof(struct gpio_v2_line_event): timestamp_ns u64, id, offset, seqno, line_seqno, padding[6]. */
export const LINE_EVENT_SIZE = 48;

export const GPIO_V2_GET_LINE_IOCTL = iowr(0xb4, 0x07, LINE_REQUEST_SIZE);

/** enum gpio_v2_line_flag (bit numbers). */
export const LineFlag = {
  ActiveLow: 1n << 1n,
  Input: 1n << 2n,
  EdgeRising: 1n << 4n,
  EdgeFalling: 1n << 5n,
  /** Since Linux 5.11; older kernels reject the request with EINVAL. */
  EventClockRealtime: 1n << 11n,
} as const;

/** enum gpio_v2_line_event_id. */
export const LineEventId = { RisingEdge: 1, FallingEdge: 2 } as const;

// Field offsets in struct gpio_v2_line_request.
const REQ_CONSUMER = 4 * GPIO_V2_LINES_MAX; // 256
const REQ_CONFIG = REQ_CONSUMER + GPIO_MAX_NAME_SIZE; // 288; config.flags is its first field
const REQ_CONFIG_NUM_ATTRS = REQ_CONFIG + 8;
const CONFIG_SIZE = 8 + 4 + 4 * 5 + GPIO_V2_LINE_NUM_ATTRS_MAX * 24; // 272
const REQ_NUM_LINES = REQ_CONFIG + CONFIG_SIZE; // 560
const REQ_EVENT_BUFFER_SIZE = REQ_NUM_LINES + 4; // 564
const REQ_FD = REQ_EVENT_BUFFER_SIZE + 4 + 4 * 5; // 588

export interface LineRequest {
  /** Line offset on the chip (the BCM GPIO number on a Pi's pinctrl chip). */
  readonly offset: number;
  readonly consumer: string;
  readonly flags: bigint;
  /** Events the kernel should queue; 0 = its default (16 per line). */
  readonly eventBufferSize?: number;
}

/** A zero-filled request for one line: the kernel requires every padding and unused field zero. */
export function encodeLineRequest(req: LineRequest, out: Buffer = Buffer.alloc(LINE_REQUEST_SIZE)): Buffer {
  if (out.length < LINE_REQUEST_SIZE) throw new RangeError(`line request buffer needs ${LINE_REQUEST_SIZE} bytes`);
  if (!Number.isInteger(req.offset) || req.offset < 0 || req.offset > 0xffff_ffff) throw new RangeError(`bad line offset ${req.offset}`);
  out.fill(0, 0, LINE_REQUEST_SIZE);
  out.writeUInt32LE(req.offset, 0);
  // The kernel copies at most 31 bytes and NUL-terminates; cut here so the label is what we sent.
  out.write(req.consumer.slice(0, GPIO_MAX_NAME_SIZE - 1), REQ_CONSUMER, 'latin1');
  out.writeBigUInt64LE(req.flags, REQ_CONFIG);
  out.writeUInt32LE(0, REQ_CONFIG_NUM_ATTRS);
  out.writeUInt32LE(1, REQ_NUM_LINES);
  out.writeUInt32LE(req.eventBufferSize ?? 0, REQ_EVENT_BUFFER_SIZE);
  return out;
}

/** The line fd the kernel wrote back into a successful request. */
export function decodeRequestFd(buf: Buffer): number {
  return buf.readInt32LE(REQ_FD);
}

export interface LineEvent {
  /** CLOCK_REALTIME of the edge, ns since the Unix epoch, taken in the interrupt handler (with EventClockRealtime). */
  readonly timestampNs: bigint;
  readonly id: number;
  readonly offset: number;
  readonly seqno: number;
  readonly lineSeqno: number;
}

/** Decode the whole events in `buf[0, length)`; a trailing partial record (never sent by the kernel) is ignored. */
export function decodeLineEvents(buf: Buffer, length: number): LineEvent[] {
  const events: LineEvent[] = [];
  for (let at = 0; at + LINE_EVENT_SIZE <= length; at += LINE_EVENT_SIZE) {
    events.push({
      timestampNs: buf.readBigUInt64LE(at),
      id: buf.readUInt32LE(at + 8),
      offset: buf.readUInt32LE(at + 12),
      seqno: buf.readUInt32LE(at + 16),
      lineSeqno: buf.readUInt32LE(at + 20),
    });
  }
  return events;
}

/** Flags for a PPS input: one edge, kernel timestamps on CLOCK_REALTIME. */
export function ppsLineFlags(edge: 'assert' | 'clear', activeLow = false): bigint {
  const edgeFlag = edge === 'assert' ? LineFlag.EdgeRising : LineFlag.EdgeFalling;
  return LineFlag.Input | edgeFlag | LineFlag.EventClockRealtime | (activeLow ? LineFlag.ActiveLow : 0n);
}
