// Gnomon bench: which code and which machine a result belongs to — the Gnomon commit, whether
// dist/ (what the bench runs) is older than src/, and the host (CPUs, kernel, node, chronyd).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './paths.mjs';
import { CHRONYD, GNOMON_MAIN } from './servers.mjs';

/** src/ and drivers/ .ts files newer than their compiled dist/ .js (the bench runs dist/). */
export function staleDist() {
  const stale = [];
  const walk = (dir) => {
    if (!fs.existsSync(dir)) return;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) {
        const js = path.join(ROOT, 'dist', path.relative(ROOT, p)).replace(/\.ts$/, '.js');
        if (!fs.existsSync(js) || fs.statSync(js).mtimeMs < fs.statSync(p).mtimeMs) stale.push(path.relative(ROOT, p));
      }
    }
  };
  walk(path.join(ROOT, 'src'));
  walk(path.join(ROOT, 'drivers'));
  return stale;
}

export function buildDist() {
  const r = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) console.error('bench: tsc reported errors (it still emits); measuring what was emitted');
}

export function machineInfo() {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const model = /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? 'unknown';
  const chrony = /version (\S+)/.exec(spawnSync(CHRONYD, ['-v'], { encoding: 'utf8' }).stdout)?.[1] ?? '?';
  return {
    nproc: os.cpus().length,
    cpu: model,
    kernel: os.release(),
    node: process.version,
    chronyd: `chronyd ${chrony}`,
    gnomonCommit: spawnSync('git', ['-C', ROOT, 'log', '-1', '--format=%h %s'], { encoding: 'utf8' }).stdout.trim(),
    uncommittedSrc: spawnSync('git', ['-C', ROOT, 'status', '--porcelain', 'src', 'drivers'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).length,
    distBuilt: fs.existsSync(GNOMON_MAIN) ? fs.statSync(path.join(ROOT, 'dist', 'src', 'server', 'udp.js'), { throwIfNoEntry: false })?.mtime.toISOString() ?? null : null,
    staleDist: staleDist(),
  };
}
