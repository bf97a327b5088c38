// The login page of a console that needs a credential (bound beyond loopback, or given a token):
// the token from the printed login URL's fragment (never sent to a server), or pasted, is
// exchanged for an HttpOnly session cookie; then the console loads afresh.
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { ErrorBanner } from './components.js';
import { html } from './html.js';

export function LoginPage() {
  const [token, setToken] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  const logIn = async (value) => {
    setBusy(true);
    setError(null);
    try {
      await api.login(value);
      location.replace('/'); // a fresh load: the live stream and every page start with the cookie
    } catch (failure) {
      setError(failure);
      setBusy(false);
    }
  };

  useEffect(() => {
    const fromFragment = () => {
      const fromUrl = new URLSearchParams(location.hash.slice(1)).get('token');
      if (!fromUrl) return;
      history.replaceState(null, '', '/login'); // the token leaves the address bar and the history
      logIn(fromUrl);
    };
    fromFragment();
    // The login URL opened in a tab already on /login changes only the fragment.
    addEventListener('hashchange', fromFragment);
    return () => removeEventListener('hashchange', fromFragment);
  }, []);

  return html`
    <section class="page login" data-testid="login-page">
      <h1>Log in to the Strata console</h1>
      <p class="muted">This console needs its token: open the login URL it printed when it started, or paste the token (or STRATA_CONSOLE_TOKEN) here.</p>
      <${ErrorBanner} error=${error} />
      <form class="login-form" onSubmit=${(event) => { event.preventDefault(); if (token) logIn(token); }}>
        <label><span>Token</span>
          <input type="password" autocomplete="current-password" value=${token} onInput=${(event) => setToken(event.currentTarget.value)} data-testid="login-token" />
        </label>
        <button type="submit" disabled=${busy || !token} data-testid="login-submit">${busy ? 'Logging in…' : 'Log in'}</button>
      </form>
    </section>`;
}
