import { describe, expect, it } from 'vitest';
import { escapeHtml, fieldError, html, layout, SafeHtml } from '../../src/web/html.js';
import { safeNext } from '../../src/web/pages/login.js';

describe('escaping', () => {
  it('escapes every HTML-significant character', () => {
    expect(escapeHtml(`<img src=x onerror="alert('1')">&\``)).toBe('&lt;img src=x onerror=&quot;alert(&#39;1&#39;)&quot;&gt;&amp;&#96;');
    expect(escapeHtml(null)).toBe('');
    expect(escapeHtml(42)).toBe('42');
  });

  it('html`` escapes interpolations but keeps nested fragments and arrays of them', () => {
    const hostile = '<script>alert(1)</script>';
    const inner = html`<b>${hostile}</b>`;
    const out = html`<p title="${hostile}">${inner}${[html`<i>${'a&b'}</i>`, '<x>']}${undefined}${false}</p>`;
    expect(out).toBeInstanceOf(SafeHtml);
    expect(out.text).toBe('<p title="&lt;script&gt;alert(1)&lt;/script&gt;"><b>&lt;script&gt;alert(1)&lt;/script&gt;</b><i>a&amp;b</i>&lt;x&gt;</p>');
  });

  it('the layout escapes the title and the CSRF token and loads only local scripts', () => {
    const page = layout({ title: '<t>', csrf: '"x"', body: html`ok`, scripts: ['/assets/status.js'] });
    expect(page).toContain('<title>&lt;t&gt; - Gnomon</title>');
    expect(page).toContain('value="&quot;x&quot;"');
    expect(page).not.toMatch(/src="https?:/);
  });

  it('field errors are escaped and tagged with their field', () => {
    expect(fieldError(new Map([['address', '"<b>" is not an IP address']]), 'address').text)
      .toBe('<span class="field-error" data-field="address">&quot;&lt;b&gt;&quot; is not an IP address</span>');
    expect(fieldError(undefined, 'address').text).toBe('');
  });

  it('login redirects only to local paths', () => {
    expect(safeNext('/restrict?x=1')).toBe('/restrict?x=1');
    for (const bad of ['//evil.example/', 'https://evil.example/', '/\\evil', 'javascript:alert(1)', undefined]) expect(safeNext(bad)).toBe('/');
  });
});
