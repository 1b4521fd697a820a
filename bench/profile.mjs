// Gnomon bench: summaries of a V8 .cpuprofile (node --cpu-prof) and of `perf report` text,
// grouped into the categories the docs talk about (event loop/libuv, dgram dispatch,
// Gnomon's handler, clock reads, send, GC) for bench/run.mjs --profile [--perf]. Also runnable:
//   node bench/profile.mjs bench/build/prof/CPU.*.cpuprofile
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const pct = (x, total) => `${((100 * x) / total).toFixed(1)}%`.padStart(6);

function frameKey(cf, root) {
  let url = cf.url ?? '';
  if (url.startsWith('file://')) url = fileURLToPath(url);
  if (root && url.startsWith(root)) url = path.relative(root, url);
  const where = url ? `${url}:${cf.lineNumber + 1}` : '(native)';
  let name = cf.functionName || '(anonymous)';
  if (name.length > 60) name = `${name.slice(0, 57)}...`; // e.g. node:net's IPv6 RegExp
  return { name, url, where };
}

/** Category of a V8 profile frame, by name and script. */
export function categorize(name, url) {
  // V8 marks samples "(idle)" while Node's event loop is in its poll phase outside JS. Under load
  // that is mostly libuv's recvmsg loop, not waiting: perf shows epoll_wait itself under 1 %.
  if (name === '(idle)') return '(idle): event-loop poll phase outside JS (libuv recvmsg loop; epoll_wait itself <1 % in perf)';
  if (name === '(garbage collector)') return 'garbage collector';
  if (name === '(program)') return '(program): native code outside JS, not idle (UDPWrap recv/callback into JS, V8 runtime)';
  if (name === '(root)') return 'root';
  if (!url) {
    if (name.startsWith('RegExp:')) return 'regular expressions (e.g. node:net isIP/isIPv6)';
    if (/^(send|sendto|trySend|doSend)$/i.test(name)) return 'send (native binding)';
    if (/hrtime|now|clock|gettime/i.test(name)) return 'clock read (native)';
    return 'other native bindings';
  }
  if (url.startsWith('node:dgram') && name === 'doSend') return 'send: node:dgram doSend (its self time includes the native send binding and the sendmsg syscall)';
  if (url.startsWith('node:dgram') || url.startsWith('node:internal/dgram')) return 'node:dgram JS (onMessage dispatch, send argument handling)';
  if (url.startsWith('node:events') || url.startsWith('node:internal/process/task_queues') || url.startsWith('node:internal/timers')) return 'node event plumbing (emit, nextTick, timers)';
  if (url.startsWith('node:internal/dns') || url.startsWith('node:dns') || url.startsWith('node:net')) return 'node address lookup on send';
  if (url.startsWith('node:buffer') || url.startsWith('node:internal/buffer')) return 'node:buffer';
  if (url.startsWith('node:')) return 'other node internals';
  if (url.includes('node_modules/')) return `dependency ${url.split('node_modules/').pop().split('/')[0]}`;
  if (/(^|\/)src\/(clock|ntp\/timestamp)/.test(url) || /hrtime|clock/i.test(name)) return 'Gnomon clock / timestamp';
  if (/(^|\/)src\/server\//.test(url)) return 'Gnomon server (udp shell + handler)';
  if (/(^|\/)src\/ntp\//.test(url)) return 'Gnomon packet codec (src/ntp)';
  if (/(^|\/)(src|drivers)\//.test(url)) return 'Gnomon other';
  return 'other JS';
}

/** Text summary of a .cpuprofile: categories, top self time, top inclusive time. */
export function summarizeCpuProfile(prof, root, window = {}) {
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const { samples, timeDeltas } = prof;
  const avg = samples.length ? (prof.endTime - prof.startTime) / samples.length : 0;
  // Sample timestamps are V8 TimeTicks (CLOCK_MONOTONIC, µs), comparable to process.hrtime.
  const from = window.fromUs ?? -Infinity;
  const to = window.toUs ?? Infinity;
  let t = prof.startTime;
  let first = Infinity;
  let last = -Infinity;
  let used = 0;
  for (let i = 0; i < samples.length; i++) {
    t += timeDeltas[i] ?? 0;
    if (t < from || t > to) continue;
    const dt = i + 1 < timeDeltas.length ? timeDeltas[i + 1] : avg;
    self.set(samples[i], (self.get(samples[i]) ?? 0) + Math.max(0, dt));
    first = Math.min(first, t);
    last = Math.max(last, t);
    used++;
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0) || 1;
  // Inclusive time per node (post-order over the tree).
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const incl = new Map();
  const order = [];
  const stack = [prof.nodes[0].id];
  while (stack.length) {
    const id = stack.pop();
    order.push(id);
    for (const c of byId.get(id).children ?? []) stack.push(c);
  }
  for (let i = order.length - 1; i >= 0; i--) {
    const id = order[i];
    let t = self.get(id) ?? 0;
    for (const c of byId.get(id).children ?? []) t += incl.get(c) ?? 0;
    incl.set(id, t);
  }
  const selfBy = new Map();
  const inclBy = new Map();
  const cats = new Map();
  for (const n of prof.nodes) {
    const k = frameKey(n.callFrame, root);
    const key = `${k.name}  ${k.where}`;
    const s = self.get(n.id) ?? 0;
    selfBy.set(key, (selfBy.get(key) ?? 0) + s);
    const cat = categorize(k.name, k.url);
    cats.set(cat, (cats.get(cat) ?? 0) + s);
    // inclusive: count a function once per path (skip if an ancestor has the same key)
    let a = parent.get(n.id);
    let recursive = false;
    while (a !== undefined) {
      const ak = frameKey(byId.get(a).callFrame, root);
      if (`${ak.name}  ${ak.where}` === key) {
        recursive = true;
        break;
      }
      a = parent.get(a);
    }
    if (!recursive) inclBy.set(key, (inclBy.get(key) ?? 0) + (incl.get(n.id) ?? 0));
  }
  const lines = [];
  lines.push(`${used} samples over ${((last - first) / 1e6).toFixed(2)} s ${window.fromUs !== undefined ? "(the load generator's run only)" : '(whole profile)'}; % of sampled time`);
  lines.push('');
  lines.push('by category (self time):');
  for (const [c, t] of [...cats].filter(([, t]) => t > 0).sort((a, b) => b[1] - a[1])) {
    lines.push(`  ${pct(t, total)}  ${c}`);
  }
  lines.push('');
  lines.push('top self time:');
  for (const [k, t] of [...selfBy].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
    if (t <= 0) break;
    lines.push(`  ${pct(t, total)}  ${k}`);
  }
  lines.push('');
  lines.push('top inclusive time (JS frames):');
  for (const [k, t] of [...inclBy].filter(([k]) => !k.startsWith('(')).sort((a, b) => b[1] - a[1]).slice(0, 15)) {
    lines.push(`  ${pct(t, total)}  ${k}`);
  }
  return lines.join('\n');
}

// Each perf sample is attributed to a phase by walking its stack from the leaf outwards;
// the first frame that matches a rule decides (so a clock read inside the JS handler counts
// as a clock read, and the kernel's loopback delivery inside sendmsg counts as send).
const STRONG = [
  [/Scavenger|Heap::CollectGarbage|MarkCompactCollector|Sweeper|ConcurrentMarking|MinorMarkCompact|Heap::Scavenge|ArrayBufferSweeper|GCTracer/, 'V8 garbage collection'],
  [/clock_gettime|gettimeofday|uv_hrtime|uv__hrtime/, 'clock reads (vDSO clock_gettime)'],
  [/__x64_sys_sendmsg|__x64_sys_sendto|__x64_sys_sendmmsg|^udp_sendmsg|uv__udp_sendmsg|uv_udp_try_send|uv__udp_try_send|^__libc_sendmsg|^__libc_sendto|^__sendmmsg/, 'send: sendmsg syscall (kernel UDP + loopback delivery)'],
  [/__x64_sys_recvmsg|__x64_sys_recvfrom|__x64_sys_recvmmsg|^udp_recvmsg|^__libc_recvmsg|uv__udp_recvmsg|uv__udp_recvmmsg|^__libc_recvfrom|^recvmmsg/, 'receive: recvmsg syscall'],
  [/__x64_sys_epoll_wait|__x64_sys_epoll_pwait|^epoll_wait|^epoll_pwait|^__GI_epoll/, 'event loop: epoll_wait'],
];
const WEAK = [
  [/^asm_exc_page_fault|^exc_page_fault/, 'page faults'],
  [/^asm_sysvec|^asm_common_interrupt|^irq_exit|^__do_softirq|^handle_softirqs/, 'interrupts / softirq (timer ticks etc.)'],
  [/^Builtins_|^JS:|^LazyCompile:|^Function:|^Script:|\.m?js:\d+|^RegExp:|^Stub:|^Handler:/, 'JS: handler, node:dgram/events, V8 builtins'],
  [/UDPWrap|SendWrap|^uv__udp_io|^node::AsyncWrap::MakeCallback|^node::InternalMakeCallback|^node::InternalCallbackScope/, 'node/libuv C++: UDP handle, buffers, calling into JS'],
  [/^__x64_sys_(\w+)/, 'other syscalls'],
  [/^uv__io_poll|^uv_run|^uv__run/, 'libuv event loop'],
];

// Strong rules (GC, clock, send, receive, epoll) are searched first over the whole stack, innermost
// frame first; only then the weak ones. So the loopback delivery that runs as a softirq inside
// sendmsg counts as send, a clock read inside the JS handler as a clock read, and a timer tick
// that interrupts JS as an interrupt.
export function phaseOf(frames) {
  for (const rules of [STRONG, WEAK]) {
    for (const f of frames) {
      for (const [re, name] of rules) {
        if (re.test(f.sym)) {
          if (name === 'other syscalls') return `other syscalls (${f.sym.replace(/^__x64_sys_/, '')})`;
          return name;
        }
      }
    }
  }
  return 'other user code (V8 runtime, compiler, malloc; frames perf could not unwind)';
}

function leafCategory(f) {
  if (f.dso === '[kernel.kallsyms]') return 'kernel';
  if (/perf-\d+\.map|\[JIT\]/.test(f.dso)) return 'JIT code (JS)';
  if (/vdso/.test(f.dso)) return 'vDSO';
  if (/libc\.so/.test(f.dso)) return /alloc|free|malloc|unlink_chunk|consolidate/.test(f.sym) ? 'libc malloc/free' : 'libc other';
  if (/^uv_|^uv__/.test(f.sym)) return 'libuv';
  if (/^Builtins_/.test(f.sym)) return 'V8 builtins';
  if (/^node::/.test(f.sym)) return 'node C++';
  if (/v8::|^Runtime_/.test(f.sym)) return 'V8 runtime/GC';
  return `other (${path.basename(f.dso)})`;
}

/** Text summary of `perf script -F comm,tid,ip,sym,dso` output (with call graphs). */
export function summarizePerfScript(text, mainTid) {
  const phase = new Map();
  const leafCat = new Map();
  const leafSym = new Map();
  const threads = new Map();
  let n = 0;
  const add = (m, k) => m.set(k, (m.get(k) ?? 0) + 1);
  for (const block of text.split(/\n\s*\n/)) {
    const lines = block.split('\n').filter((l) => l.trim());
    if (lines.length < 2) continue;
    const head = /^\s*(.+?)\s+(\d+)\s*$/.exec(lines[0]);
    if (!head) continue;
    const frames = [];
    for (const l of lines.slice(1)) {
      const m = /^\s*[0-9a-f]+\s+(.*?)\s+\(([^()]*)\)\s*$/.exec(l);
      if (m) frames.push({ sym: m[1].replace(/\+0x[0-9a-f]+$/, ''), dso: m[2] });
    }
    if (frames.length === 0) continue;
    n++;
    const tid = Number(head[2]);
    const thread = tid === mainTid ? 'main thread' : `thread "${head[1]}"`;
    add(threads, thread);
    add(phase, tid === mainTid ? phaseOf(frames) : `${thread} (${phaseOf(frames)})`);
    add(leafCat, leafCategory(frames[0]));
    const sym = frames[0].sym.length > 90 ? `${frames[0].sym.slice(0, 87)}...` : frames[0].sym;
    add(leafSym, `${sym}  [${path.basename(frames[0].dso)}]`);
  }
  const lines = [`${n} samples`, '', 'by thread:'];
  const sorted = (m) => [...m].sort((a, b) => b[1] - a[1]);
  for (const [k, c] of sorted(threads)) lines.push(`  ${pct(c, n)}  ${k}`);
  lines.push('', 'by phase (see phaseOf in bench/profile.mjs):');
  for (const [k, c] of sorted(phase)) if (c / n >= 0.002) lines.push(`  ${pct(c, n)}  ${k}`);
  lines.push('', 'by leaf code (where the CPU actually was):');
  for (const [k, c] of sorted(leafCat)) lines.push(`  ${pct(c, n)}  ${k}`);
  lines.push('', 'top leaf symbols:');
  for (const [k, c] of sorted(leafSym).slice(0, 30)) lines.push(`  ${pct(c, n)}  ${k}`);
  return lines.join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node bench/profile.mjs FILE.cpuprofile');
    process.exit(2);
  }
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  console.log(summarizeCpuProfile(JSON.parse(fs.readFileSync(file, 'utf8')), root));
}
