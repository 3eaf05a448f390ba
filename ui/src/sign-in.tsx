import { useState } from 'preact/hooks';
import { ErrorLine } from './components/bits';
import { ApiError, whoami, type WhoamiAnswer } from './api';

/** The token form: the token is checked with GET /v1/whoami, then kept in sessionStorage. */
export function SignIn({ onSignedIn }: { onSignedIn: (token: string, who: WhoamiAnswer) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      onSignedIn(token.trim(), await whoami(token.trim()));
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 401 ? 'That token is not accepted.' : String(err),
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="sign-in">
      <h1>fleetcmd console</h1>
      <form onSubmit={(e) => void submit(e)}>
        <label for="token">API token</label>
        <input
          id="token"
          type="password"
          autocomplete="off"
          required
          value={token}
          onInput={(e) => setToken(e.currentTarget.value)}
        />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        <ErrorLine error={error} />
      </form>
      <p class="hint">
        The token stays in this tab (sessionStorage) and goes to the API in the Authorization header
        only.
      </p>
    </main>
  );
}
