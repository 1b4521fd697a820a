// Crash safety of ConfigStore.apply: a child process writes in a loop (the built dist/ store), and is
// SIGKILLed at a random moment, 200 times. After every kill the file must parse, validate, and be exactly the
// version before or after the write that was under way: never a partial file; and leftovers (PATH.tmp,
// PATH.lock of the dead writer) must not stop the next writer.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, test } from 'vitest';
import { validateText } from '../../../src/config/changes.js';
import { RESTRICT_FLAGS } from '../../../src/config/model.js';

const STORE_JS = fileURLToPath(new URL('../../../dist/src/config/store.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'gnomon-crash-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const KILLS = 200;
const LANES = 2;
const HEAD = '# hand-written, must survive\nserver 127.127.1.0\nfudge 127.127.1.0 stratum 5\n';
const TAIL = 'driftfile /var/lib/gnomon/drift  # unrelated\n';

/** Version n of the file: the default rule's flags are the bits of n (consecutive versions always differ). */
function flagsFor(n: number): string[] {
  const bits = (n % 8191) + 1;
  return RESTRICT_FLAGS.filter((_, i) => (bits & (1 << i)) !== 0);
}
function version(n: number): string {
  return `${HEAD}restrict default ${flagsFor(n).join(' ')}\n${TAIL}`;
}

// The writer: prints "begin N" (synchronous on a pipe on Linux) before applying version N, from N = argv[3] on.
const WRITER = `
import { ConfigStore } from ${JSON.stringify(STORE_JS)};
const [path, startText] = process.argv.slice(2);
const store = new ConfigStore({ path, controlSocket: null, historyDepth: 3 });
const FLAGS = ${JSON.stringify(RESTRICT_FLAGS)};
const flagsFor = (n) => { const bits = (n % 8191) + 1; return FLAGS.filter((_, i) => (bits & (1 << i)) !== 0); };
process.stdout.write('ready\\n');
for (let n = Number(startText); ; n++) {
  process.stdout.write('begin ' + n + '\\n');
  const r = await store.apply({ kind: 'restrict-set-default', flags: flagsFor(n) }, null);
  if (!r.ok) { process.stderr.write(JSON.stringify(r) + '\\n'); process.exit(1); }
}
`;

interface Killed {
  lastBegun: number | undefined;
  stderr: string;
  exitedByItself: boolean;
}

function runAndKill(script: string, path: string, start: number, delayMs: number): Promise<Killed> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, path, String(start)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    let killed = false;
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
      if (timer === undefined && stdout.includes('ready\n')) {
        timer = setTimeout(() => {
          killed = true;
          child.kill('SIGKILL');
        }, delayMs);
      }
    });
    child.stderr.on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    // A hard bound: a writer that never gets ready is killed too, and reported.
    const guard = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('close', () => {
      clearTimeout(guard);
      if (timer) clearTimeout(timer);
      const begun = [...stdout.matchAll(/^begin (\d+)$/gm)].map((m) => Number(m[1]));
      resolve({ lastBegun: begun.at(-1), stderr, exitedByItself: !killed });
    });
  });
}

test(`kill -9 of the writer at ${KILLS} random moments never leaves a partial or invalid file`, async () => {
  expect(existsSync(STORE_JS), `${STORE_JS} is missing: build first (npm run build)`).toBe(true);
  const script = join(root, 'writer.mjs');
  writeFileSync(script, WRITER);
  let seed = 0x2545f491;
  const random = (): number => {
    seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };
  const outcomes = { previous: 0, next: 0, writesSeen: 0 };
  const lane = async (id: number, kills: number): Promise<void> => {
    const dir = join(root, `lane${id}`);
    mkdirSync(dir);
    const path = join(dir, 'ntp.conf');
    let current = 0;
    writeFileSync(path, version(current));
    for (let k = 0; k < kills; k++) {
      const start = current + 1;
      const result = await runAndKill(script, path, start, Math.floor(random() * 80));
      expect(result.exitedByItself, `writer exited by itself: ${result.stderr}`).toBe(false);
      const text = readFileSync(path, 'utf8');
      const last = result.lastBegun;
      // Killed before its first write: the file is still `current`. Otherwise: version last-1 (done) or last (under way).
      const allowed = last === undefined ? [current] : [last - 1, last];
      const which = allowed.find((n) => version(n) === text);
      expect(which, `after kill ${k} in lane ${id} (last begun ${last}): not version ${allowed.join(' or ')}:\n${text}`).toBeDefined();
      expect(validateText(text, { fileName: path }).ok).toBe(true);
      if (last !== undefined) {
        if (which === last) outcomes.next++;
        else outcomes.previous++;
        outcomes.writesSeen += last - start + (which === last ? 1 : 0);
      }
      current = which ?? current;
    }
  };
  await Promise.all(Array.from({ length: LANES }, (_, i) => lane(i, KILLS / LANES)));
  console.log(`store-crash: ${JSON.stringify(outcomes)}`);
  // The kills must have landed both before and after completed writes, or the test proved little.
  expect(outcomes.previous, JSON.stringify(outcomes)).toBeGreaterThan(0);
  expect(outcomes.next, JSON.stringify(outcomes)).toBeGreaterThan(0);
  expect(outcomes.writesSeen, JSON.stringify(outcomes)).toBeGreaterThan(KILLS / 4);
}, 180_000);
