/**
 * `restrict` lines → RestrictRule (ntp_acc(5) syntax).
 *
 *   restrict [-4|-6] default FLAGS...
 *   restrict source FLAGS...
 *   restrict [-4|-6] ADDRESS [mask MASK] FLAGS...
 *   restrict [-4|-6] ADDRESS/LENGTH FLAGS...      (ntpsec spelling, accepted too)
 *
 * A bare address covers that one host, as in ntpd. Host names are refused rather than
 * resolved: an access rule must not change meaning when DNS does, and the config layer
 * does no IO.
 */
import { addressBits, formatIp, networkOf, parseIp, prefixFromMask, sameAddress, type IpAddress } from './address.js';
import { DiagnosticCode, type DiagnosticList } from './diagnostics.js';
import { RESTRICT_FLAGS, type RestrictFlag, type RestrictRule, type SourcePosition } from './model.js';
import type { ParsedDirective } from './syntax.js';
import type { Token } from './tree.js';

const FLAG_SET: ReadonlySet<string> = new Set(RESTRICT_FLAGS);

export function compileRestrict(p: ParsedDirective, out: DiagnosticList): RestrictRule | undefined {
  const target = p.args[0];
  if (!target || target.value.kind !== 'text') return undefined;
  const error = (token: Token, code: DiagnosticCode, message: string, hint: string): undefined => {
    out.error(p.file, token, { code, message: `restrict: ${message}`, hint, directive: 'restrict' });
    return undefined;
  };
  const at: SourcePosition = { file: p.file, line: p.name.line, column: p.name.column };
  const flags = [...p.options.values()]
    .filter((o) => FLAG_SET.has(o.spec.name))
    .sort((a, b) => a.token.column - b.token.column)
    .map((o) => o.spec.name as RestrictFlag);
  const maskOption = p.options.get('mask');
  const family = p.family === 4 ? 'ipv4' : p.family === 6 ? 'ipv6' : 'any';
  const text = target.value.text;

  if (text === 'default' || text === 'source') {
    if (maskOption) return error(maskOption.token, DiagnosticCode.ConflictingOptions, `mask does not apply to "restrict ${text}"`, 'remove the mask, or give an address before it');
    return { kind: text, family, flags, at };
  }

  const slash = text.indexOf('/');
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const address = parseIp(addressText);
  if (!address) {
    const looksLikeName = /^[A-Za-z0-9.-]+$/.test(addressText) && /[A-Za-z]/.test(addressText);
    return error(target.token, DiagnosticCode.InvalidAddress,
      looksLikeName ? `"${addressText}" is a host name; restrict needs an IP address` : `"${addressText}" is not an IP address`,
      looksLikeName
        ? 'write the address (host names are not resolved for access rules), or use "restrict source" for configured servers'
        : 'write default, source, an address such as 192.0.2.0 mask 255.255.255.0, or 2001:db8::/32');
  }
  if (p.family !== undefined && p.family !== address.family && p.familyToken) {
    return error(target.token, DiagnosticCode.FamilyMismatch, `${addressText} is IPv${address.family} but the line says -${p.family}`,
      `remove -${p.family} or write an IPv${p.family} address`);
  }

  let prefixLength = addressBits(address.family);
  if (slash !== -1) {
    const lengthText = text.slice(slash + 1);
    if (maskOption) {
      return error(maskOption.token, DiagnosticCode.ConflictingOptions, `${text} already gives a prefix length; mask conflicts with it`,
        'use either ADDRESS/LENGTH or ADDRESS mask MASK');
    }
    if (!/^\d{1,3}$/.test(lengthText) || Number(lengthText) > prefixLength) {
      return error(target.token, DiagnosticCode.InvalidMask, `prefix length "/${lengthText}" is not 0 to ${prefixLength}`, `write e.g. ${addressText}/${address.family === 4 ? 24 : 64}`);
    }
    prefixLength = Number(lengthText);
  } else if (maskOption?.value?.value.kind === 'address') {
    const mask: IpAddress = maskOption.value.value.address;
    const maskToken = maskOption.value.token;
    if (mask.family !== address.family) {
      return error(maskToken, DiagnosticCode.FamilyMismatch, `mask ${maskToken.value} is IPv${mask.family} but ${addressText} is IPv${address.family}`, `give an IPv${address.family} mask`);
    }
    const fromMask = prefixFromMask(mask);
    if (fromMask === undefined) {
      return error(maskToken, DiagnosticCode.InvalidMask, `mask ${maskToken.value} is not contiguous`,
        address.family === 4 ? 'a mask is ones then zeros, e.g. 255.255.255.0 (/24) or 255.255.0.0 (/16)' : 'a mask is ones then zeros, e.g. ffff:ffff:ffff:ffff:: (/64)');
    }
    prefixLength = fromMask;
  }

  const network = networkOf(address, prefixLength);
  if (!sameAddress(network, address)) {
    const written = `${formatIp(network)}${slash !== -1 ? `/${prefixLength}` : maskOption ? ` mask ${maskOption.value?.token.value ?? ''}` : ''}`;
    out.warning(p.file, target.token, {
      code: DiagnosticCode.HostBitsSet,
      message: `restrict: ${addressText} has bits set outside its /${prefixLength} prefix; the rule covers ${formatIp(network)}/${prefixLength}`,
      hint: `write ${written}`,
      directive: 'restrict',
    });
  }
  return { kind: 'address', family: address.family === 4 ? 'ipv4' : 'ipv6', address: formatIp(network), prefixLength, flags, at };
}

/** Rules ntpd would treat as one entry: same kind, family, network and prefix. */
export function restrictKey(rule: RestrictRule): string {
  return `${rule.kind}|${rule.family}|${rule.address ?? ''}|${rule.prefixLength ?? ''}`;
}
