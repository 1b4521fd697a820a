// Gnomon bench: a server's resident memory — the whole process (all its threads), from
// /proc/PID/status: VmRSS = RssAnon (heaps, stacks: the process's own) + RssFile (mapped files,
// mostly the node or chronyd binary's code, shared with other processes running it) + RssShmem.
import fs from 'node:fs';

/** { rssKiB, anonKiB, fileKiB, hwmKiB, threads } of a live process, or null once it is gone. */
export function readRss(pid) {
  let text;
  try {
    text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const kib = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return {
    rssKiB: kib('VmRSS'),
    anonKiB: kib('RssAnon'),
    fileKiB: kib('RssFile'),
    hwmKiB: kib('VmHWM'),
    threads: Number(/^Threads:\s+(\d+)/m.exec(text)?.[1] ?? NaN),
  };
}

/** /proc's kB (KiB) as MiB with one decimal: the unit top and ps use; 64 MiB = 65536 KiB. */
export const mib = (kib) => (Number.isFinite(kib) ? (kib / 1024).toFixed(1) : '–');
