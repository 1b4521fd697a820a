// Run a simulated receiver's plan through the NMEA driver's own framer and decoder.
import { NmeaDecoder, type NmeaEpoch } from '../../../../drivers/nmea/decode.js';
import { byteTimeNsForBaud, NmeaFramer, type FramedSentence } from '../../../../drivers/nmea/framing.js';
import { Scenario, type ScenarioOptions, type SimSecond } from '../../../../drivers/sim/scenario.js';

export const NS = 1_000_000_000n;
/** 2026-11-22T10:00:00Z: after the decoder's default week-rollover pivot (2026-11-01). */
export const START_GPS_SEC = 1_795_341_600;

export function options(over: Partial<ScenarioOptions> = {}): ScenarioOptions {
  return { receiver: 'ublox', offsetMs: 0, driftPpm: 0, ppsJitterUs: 0, faults: [], seed: 7, ...over };
}

export interface Decoded {
  seconds: SimSecond[];
  sentences: FramedSentence[];
  epochs: NmeaEpoch[];
  framer: NmeaFramer;
  decoder: NmeaDecoder;
}

/** Plans `n` seconds and feeds every chunk, at its due time, to a framer (9600 baud) and decoder. */
export function decode(o: ScenarioOptions, n: number, start = START_GPS_SEC, pivotUnixNs?: bigint): Decoded {
  const scenario = new Scenario(o, start);
  const framer = new NmeaFramer({ byteTimeNs: byteTimeNsForBaud(9600) });
  const decoder = new NmeaDecoder(pivotUnixNs === undefined ? {} : { pivotUnixNs });
  const seconds: SimSecond[] = [];
  const sentences: FramedSentence[] = [];
  const epochs: NmeaEpoch[] = [];
  for (let i = 0; i < n; i++) {
    const s = scenario.next();
    seconds.push(s);
    for (const chunk of s.chunks) {
      for (const framed of framer.push(chunk.bytes, chunk.hostNs)) {
        sentences.push(framed);
        epochs.push(...decoder.push(framed));
      }
    }
    // The driver flushes after 100 ms of silence; a whole second of it has passed here.
    epochs.push(...decoder.flush());
  }
  epochs.push(...decoder.end());
  return { seconds, sentences, epochs, framer, decoder };
}

/** The sentence texts of one second's chunks (garbage left out). */
export function texts(s: SimSecond): string[] {
  return s.chunks.filter((c) => c.kind === 'sentence').map((c) => Buffer.from(c.bytes).toString('latin1').trimEnd());
}
