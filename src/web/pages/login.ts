/** The login form. */
import { html, layout } from '../html.js';

export function loginPage(o: { message?: string; next?: string; noPassword?: boolean }): string {
  return layout({
    title: 'Log in',
    body: html`${o.message ? html`<p class="field-error" role="alert" id="login-error">${o.message}</p>` : ''}
${o.noPassword ? html`<p class="notice">No admin password is set: logins are refused until one is. On the box, run <code>sudo gnomon passwd</code>.</p>` : ''}
<form method="post" action="/login" class="login">
<input type="hidden" name="next" value="${o.next ?? '/'}">
<input type="text" name="username" value="admin" autocomplete="username" hidden>
<label>Password <input type="password" name="password" autocomplete="current-password" required autofocus></label>
<button type="submit">Log in</button>
</form>`,
  });
}

/** Only local paths are followed after login (no open redirect). */
export function safeNext(next: string | undefined): string {
  return typeof next === 'string' && /^\/(?![/\\])[\w\-./?=&%]*$/.test(next) ? next : '/';
}
