// NTPsec's SNTP clients. Both query port 123 only, so they run inside a test namespace.
// - ntpdig always sends NTPv4 client requests and has no option to change the version.
// - ntpdate is NTPsec's shell shim over ntpdig: `-q` is mandatory here (without it, it sets the clock);
//   its `-o VERSION` is accepted but ignored ("ntpdate: -o is no longer supported."), so it also sends v4 only.
// Neither is ever given -s/-S/-b/-B here.
import type { Netns } from './netns.js';
import type { RunResult } from './process.js';

export interface NtpdigJson {
  time: string;
  offset: number;
  precision: number;
  host: string;
  ip: string;
  stratum: number;
  leap: string;
  adjusted: boolean;
}

export interface SntpResult {
  run: RunResult;
  /** The accepted answer, if the tool accepted one. */
  answer: NtpdigJson | undefined;
  /** Why the tool rejected replies ("stratum too high", "leap not in sync", "stratum 0, probable KOD packet", ...). */
  dropped: string[];
  noEligibleServers: boolean;
}

function dropReasons(stderr: string): string[] {
  return [...stderr.matchAll(/Response dropped: (.*)$/gm)].map((m) => (m[1] ?? '').trim());
}

/** `ntpdig -j -t T HOST` inside `ns`: JSON answer or the reasons it dropped the replies. */
export async function ntpdig(ns: Netns, host: string, options: { timeoutS?: number; samples?: number } = {}):
  Promise<SntpResult> {
  const timeoutS = options.timeoutS ?? 2;
  const samples = options.samples ?? 1;
  const args = ['-j', '-t', String(timeoutS), '-p', String(samples), host];
  const result = await ns.run('ntpdig', args, { timeoutMs: (timeoutS * samples + 10) * 1000 });
  let answer: NtpdigJson | undefined;
  const jsonLine = result.stdout.split('\n').find((line) => line.trim().startsWith('{'));
  if (jsonLine !== undefined) answer = JSON.parse(jsonLine) as NtpdigJson;
  return { run: result, answer, dropped: dropReasons(result.stderr), noEligibleServers: /no eligible servers/.test(result.stderr) };
}

/**
 * `ntpdate -q -t T HOST` inside `ns`. Its one output line,
 * "2026-11-22 07:50:30.3987 (+0000) -0.000013 +/- 0.000121 127.0.0.1 s3 no-leap", is parsed into the same shape
 * as ntpdig's JSON (precision = the "+/-" value).
 */
export async function ntpdateQuery(ns: Netns, host: string, options: { timeoutS?: number } = {}): Promise<SntpResult> {
  const timeoutS = options.timeoutS ?? 2;
  const result = await ns.run('ntpdate', ['-q', '-t', String(timeoutS), host], { timeoutMs: (timeoutS + 10) * 1000 });
  const m = /^(\S+ \S+) \(([-+]\d{4})\) ([-+]?[\d.]+) \+\/- ([\d.]+) (\S+) s(\d+) (\S+)\s*$/m.exec(result.stdout);
  const answer = m === null ? undefined : {
    time: `${m[1]} ${m[2]}`, offset: Number(m[3]), precision: Number(m[4]), host: m[5] ?? '', ip: m[5] ?? '',
    stratum: Number(m[6]), leap: m[7] ?? '', adjusted: false,
  };
  return { run: result, answer, dropped: dropReasons(result.stderr), noEligibleServers: /no eligible servers/.test(result.stderr) };
}

/**
 * ntpdate -q `runs` times (it takes one sample per run) and keeps the answer with the smallest "+/-" (synchronisation
 * distance, i.e. the least delay), as ntpdig -p N does among its samples. All runs are returned for messages.
 */
export async function ntpdateBestOf(ns: Netns, host: string, runs: number, options: { timeoutS?: number } = {}):
  Promise<{ best: SntpResult | undefined; all: SntpResult[] }> {
  const all: SntpResult[] = [];
  for (let i = 0; i < Math.min(runs, 10); i++) all.push(await ntpdateQuery(ns, host, options));
  const answered = all.filter((r) => r.answer !== undefined);
  const best = answered.reduce<SntpResult | undefined>((b, r) =>
    (b?.answer === undefined || (r.answer?.precision ?? Infinity) < b.answer.precision ? r : b), undefined);
  return { best, all };
}
