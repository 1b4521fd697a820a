/**
 * The compiler is total (any text gives diagnostics, never an exception) and agrees with
 * configs generated to be valid.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { DIRECTIVES } from '../../src/config/directives.js';
import { RESTRICT_FLAGS } from '../../src/config/model.js';
import { parseConfigText } from '../../src/config/parse.js';

const tokenPool = [
  ...DIRECTIVES.map((d) => d.name), ...DIRECTIVES.flatMap((d) => (d.options ?? []).map((o) => o.name)),
  '-4', '-6', 'default', 'source', '127.127.1.0', '127.127.20.0', '127.127.0.9', '::1', '10.0.0.0', '10.0.0.0/8', '255.255.0.0',
  '0', '1', '3', '17', '99', '-1', '0.5', 'x', '"q"', '"', '#c', 'listen', 'ignore', 'all', 'a.example', '/etc/ntp/keys',
];
const line = fc.array(fc.constantFrom(...tokenPool), { maxLength: 8 }).map((words) => words.join(' '));
const configText = fc.array(fc.oneof(line, fc.string({ maxLength: 40 })), { maxLength: 25 }).map((lines) => lines.join('\n'));

const serverLine = fc.record({
  kind: fc.constantFrom('server', 'pool', 'peer'),
  host: fc.constantFrom('192.0.2.1', 'time.example.org', '2001:db8::123', 'pool.ntp.org'),
  flags: fc.subarray(['iburst', 'burst', 'prefer', 'noselect', 'true']),
  minpoll: fc.option(fc.integer({ min: 3, max: 10 }), { nil: undefined }),
  span: fc.integer({ min: 0, max: 7 }),
}).map((s) => [s.kind, s.host, ...s.flags, ...(s.minpoll !== undefined ? ['minpoll', String(s.minpoll), 'maxpoll', String(s.minpoll + s.span)] : [])].join(' '));
const restrictLine = fc.record({
  octets: fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 })),
  length: fc.integer({ min: 0, max: 32 }),
  useMask: fc.boolean(),
  flags: fc.subarray([...RESTRICT_FLAGS]),
}).map(({ octets, length, useMask, flags }) => {
  const value = length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
  const network = octets.map((o, i) => o & ((value >>> (24 - 8 * i)) & 0xff)).join('.');
  const mask = [24, 16, 8, 0].map((shift) => (value >>> shift) & 0xff).join('.');
  return ['restrict', useMask ? `${network} mask ${mask}` : `${network}/${length}`, ...flags].join(' ');
});
const validConfig = fc.array(fc.oneof(serverLine, restrictLine, fc.constant('restrict default kod limited nomodify'), fc.constant('# comment')), { maxLength: 20 });

describe('compiler', () => {
  test('never throws, and withholds the config exactly when there is an error', () => {
    fc.assert(fc.property(configText, (text) => {
      const result = parseConfigText(text, 'fuzz.conf');
      expect(result.config === undefined).toBe(result.diagnostics.some((d) => d.severity === 'error'));
      for (const d of result.diagnostics) {
        expect(d.at.line).toBeGreaterThanOrEqual(1);
        expect(d.at.column).toBeGreaterThanOrEqual(1);
        expect(d.code).toMatch(/^CONFIG_[A-Z0-9_]+$/);
      }
    }), { numRuns: 1000 });
  });

  test('generated valid configs compile without diagnostics, one model entry per line', () => {
    fc.assert(fc.property(validConfig, (lines) => {
      // Identical restrict lines are merged (with a warning), so compare against distinct ones.
      const distinct = [...new Set(lines)];
      const result = parseConfigText(distinct.join('\n'), 'valid.conf');
      const restrictNetworks = distinct.filter((l) => l.startsWith('restrict'));
      const duplicates = result.diagnostics.filter((d) => d.code === 'CONFIG_DUPLICATE_DIRECTIVE');
      expect(result.diagnostics.filter((d) => d.code !== 'CONFIG_DUPLICATE_DIRECTIVE')).toEqual([]);
      expect(result.config?.associations).toHaveLength(distinct.filter((l) => /^(server|pool|peer) /.test(l)).length);
      expect(result.config?.restrict).toHaveLength(restrictNetworks.length - duplicates.length);
    }), { numRuns: 500 });
  });
});
