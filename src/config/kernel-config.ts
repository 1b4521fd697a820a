/**
 * `enable`/`disable` (ntpd's system flags) and `tinker step S panic S`: whether and how Gnomon
 * steers the kernel clock (docs/kernel-steering.md, src/discipline/steer.ts).
 *
 * Unlike ntpd, kernel steering is OFF unless the config says `enable kernel`: a development
 * machine or a test run must never have its clock changed. The appliance's config says it.
 * Of the other flags only their spelling is checked; each one used gets a warning naming it.
 */
import { DiagnosticCode, type DiagnosticList } from './diagnostics.js';
import type { ParsedDirective } from './syntax.js';

/** ntpd's defaults: step 0.128 s, panic 1000 s (ntp_misc(5) `tinker`). */
export const DEFAULT_TINKER_STEP_S = 0.128;
export const DEFAULT_TINKER_PANIC_S = 1000;

export interface KernelDraft {
  kernel: boolean;
  stepS: number;
  panicS: number;
}

export function newKernelDraft(): KernelDraft {
  return { kernel: false, stepS: DEFAULT_TINKER_STEP_S, panicS: DEFAULT_TINKER_PANIC_S };
}

const FLAG_NOTES: Readonly<Record<string, string>> = {
  monitor: 'the client table (mru) is always kept; `restrict ... limited` uses it',
  ntp: 'Gnomon always disciplines its served time',
  stats: 'statistics are written per `statistics`/`filegen` lines',
};

export function applyKernelDirective(p: ParsedDirective, draft: KernelDraft, out: DiagnosticList): void {
  if (p.spec.name === 'tinker') {
    for (const name of ['step', 'panic'] as const) {
      const option = p.options.get(name);
      const value = option?.value;
      if (!option || value?.value.kind !== 'number') continue;
      const seconds = value.value.number;
      if (seconds < 0) {
        out.error(p.file, value.token, {
          code: DiagnosticCode.OutOfRange, directive: 'tinker',
          message: `tinker: ${name} must be 0 or more seconds, got ${seconds}`,
          hint: name === 'step' ? 'write `tinker step 0` to never step, or a threshold such as 0.128' : 'write `tinker panic 0` for no limit, or a threshold such as 1000',
        });
        continue;
      }
      if (name === 'step') draft.stepS = seconds;
      else draft.panicS = seconds;
    }
    return;
  }
  const on = p.spec.name === 'enable';
  for (const flag of p.rest) {
    if (flag.value.kind !== 'text') continue;
    if (flag.value.text === 'kernel') {
      draft.kernel = on;
      continue;
    }
    out.warning(p.file, flag.token, {
      code: DiagnosticCode.OptionNotImplemented, directive: p.spec.name,
      message: `${p.spec.name}: flag "${flag.value.text}" is accepted but Gnomon does not act on it yet`,
      hint: FLAG_NOTES[flag.value.text] ?? 'only the `kernel` flag has an effect',
    });
  }
}
