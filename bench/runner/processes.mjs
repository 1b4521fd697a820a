// Gnomon bench: every child process the runner starts is tracked here, so that it is killed
// whatever happens (normal exit, error, SIGINT/SIGTERM, the runner's time budget), and every
// temporary directory or file is removed.
import fs from 'node:fs';

const children = new Set();
const tempDirs = new Set();

export function killAll(signal = 'SIGKILL') {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      try {
        c.kill(signal);
      } catch {
        // already gone
      }
    }
  }
}

/** On exit kill what is left and remove temp dirs; on SIGINT/SIGTERM stop the servers and exit. */
export function installExitHandlers() {
  process.on('exit', () => {
    killAll('SIGKILL');
    for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
  });
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      console.error(`bench: ${sig}, stopping servers`);
      killAll('SIGKILL');
      // Reap them (at most 1 s) so that none is left behind even as a zombie, then exit.
      const gone = Promise.all([...children].map((c) => c.exited));
      Promise.race([gone, new Promise((r) => setTimeout(r, 1000))]).then(() => process.exit(130));
    });
  }
}

/** Track a spawned child: child.exited resolves { code, signal } when it is gone. */
export function track(child, name) {
  children.add(child);
  child.name = name;
  child.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  child.on('error', (err) => console.error(`bench: ${name}: ${err.message}`));
  return child;
}

/** Stop tracking a child that has exited. */
export function forget(child) {
  children.delete(child);
}

/** SIGTERM, then SIGKILL after graceMs. */
export async function stop(child, graceMs = 3000) {
  if (child.exitCode !== null || child.signalCode !== null) return child.exited;
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  const r = await child.exited;
  clearTimeout(t);
  children.delete(child);
  return r;
}

/** A temporary directory or file, removed at exit unless released (removed) earlier. */
export function trackTemp(p) {
  tempDirs.add(p);
  return () => {
    fs.rmSync(p, { recursive: true, force: true });
    tempDirs.delete(p);
  };
}

/** Runs a bench entry's main: exit 0 when it resolves; on an error, print it under `name`, kill every tracked child, exit 1. */
export function runMain(name, main) {
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(`${name}: ${err.stack ?? err}`);
      killAll('SIGKILL');
      process.exit(1);
    },
  );
}
