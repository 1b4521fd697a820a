import { describe, expect, it } from 'vitest';
import {
  GPIO_V2_GET_LINE_IOCTL, LINE_EVENT_SIZE, LINE_REQUEST_SIZE, LineFlag, decodeLineEvents, decodeRequestFd, encodeLineRequest, iowr, ppsLineFlags,
} from '../../../../drivers/pps/gpio-v2.js';

/*
 * Expected bytes come from the uapi header itself: a C program including <linux/gpio.h> filled the
 * structs and printed them (x86_64; the layout has no architecture-dependent padding):
 *   sizeof(struct gpio_v2_line_request) = 592, sizeof(struct gpio_v2_line_event) = 48,
 *   offsetof(request, consumer) = 256, config = 288, num_lines = 560, event_buffer_size = 564, fd = 588,
 *   GPIO_V2_GET_LINE_IOCTL = 0xc250b407.
 */
describe('gpio v2 ABI codec', () => {
  it('sizes and the ioctl number match linux/gpio.h', () => {
    expect(LINE_REQUEST_SIZE).toBe(592);
    expect(LINE_EVENT_SIZE).toBe(48);
    expect(GPIO_V2_GET_LINE_IOCTL).toBe(0xc250b407);
    expect(iowr(0xb4, 0x05, 256)).toBe(0xc100b405); // GPIO_V2_GET_LINEINFO_IOCTL, sizeof(gpio_v2_line_info) = 256
  });

  it('flag bits: INPUT | EDGE_RISING | EVENT_CLOCK_REALTIME = 0x814, falling edge = 0x824', () => {
    expect(ppsLineFlags('assert')).toBe(0x814n);
    expect(ppsLineFlags('clear')).toBe(0x824n);
    expect(ppsLineFlags('assert', true)).toBe(0x814n | LineFlag.ActiveLow);
  });

  it('encodes a one-line request byte for byte as the C struct, everything else zero', () => {
    const buf = encodeLineRequest({ offset: 18, consumer: 'gnomon', flags: ppsLineFlags('assert'), eventBufferSize: 32 });
    expect(buf.length).toBe(592);
    // Non-zero bytes of the C struct (offset:value), fd excluded (the kernel writes it).
    const expected = { 0: 18, 256: 103, 257: 110, 258: 111, 259: 109, 260: 111, 261: 110, 288: 0x14, 289: 0x08, 560: 1, 564: 32 };
    const nonZero = Object.fromEntries([...buf.entries()].filter(([, v]) => v !== 0));
    expect(nonZero).toEqual(expected);
  });

  it('zero-fills a reused buffer, cuts the consumer at 31 bytes, refuses bad offsets', () => {
    const buf = Buffer.alloc(592, 0xff);
    encodeLineRequest({ offset: 4, consumer: 'x'.repeat(40), flags: 0n }, buf);
    expect(buf.subarray(256, 288).toString('latin1')).toBe('x'.repeat(31) + '\0');
    expect(buf.readUInt32LE(564)).toBe(0);
    expect(() => encodeLineRequest({ offset: -1, consumer: 'g', flags: 0n })).toThrow(RangeError);
  });

  it('reads back the fd the kernel writes at offset 588', () => {
    const buf = encodeLineRequest({ offset: 18, consumer: 'gnomon', flags: 0n });
    buf.writeInt32LE(0x01020304, 588);
    expect(decodeRequestFd(buf)).toBe(0x01020304);
  });

  it('decodes gpio_v2_line_event records as the C struct lays them out', () => {
    // timestamp_ns = 1700000001000012345, id = 1 (rising), offset = 18, seqno = 7, line_seqno = 5
    const one = Buffer.from('39fac471fe9c97170100000012000000070000000500000000000000000000000000000000000000000000000000000000', 'hex').subarray(0, 48);
    const two = Buffer.concat([one, one, one.subarray(0, 20)]);
    expect(decodeLineEvents(two, two.length)).toEqual([
      { timestampNs: 1700000001000012345n, id: 1, offset: 18, seqno: 7, lineSeqno: 5 },
      { timestampNs: 1700000001000012345n, id: 1, offset: 18, seqno: 7, lineSeqno: 5 },
    ]);
    expect(decodeLineEvents(two, 47)).toEqual([]);
  });
});
