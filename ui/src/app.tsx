import { lazy, Suspense } from 'preact/compat';
import { useEffect, useState } from 'preact/hooks';
import { SWRConfig } from 'swr';
import { Link, Redirect, Route, Router, Switch, useRoute } from 'wouter-preact';
import {
  ApiError,
  fetchAction,
  session,
  setUnauthorizedHandler,
  whoami,
  type WhoamiAnswer,
} from './api';
import { RoleContext } from './role';
import { SignIn } from './sign-in';
import { NodesPage } from './pages/nodes';
import { RunPage } from './pages/run';
import { InvocationPage } from './pages/invocation';
import { InvocationsPage } from './pages/invocations';
import { CommandsPage } from './pages/commands';

/** Loaded when first opened: its next-fire times bring the cron parser, which no other page needs. */
const SchedulesPage = lazy(() => import('./pages/schedules').then((m) => m.SchedulesPage));

const NAV: [string, string][] = [
  ['/nodes', 'Nodes'],
  ['/run', 'Run'],
  ['/invocations', 'Invocations'],
  ['/schedules', 'Schedules'],
  ['/commands', 'Commands'],
];

function NavLink({ href, label }: { href: string; label: string }) {
  const [active] = useRoute(`${href}/*?`);
  return (
    <Link href={href} class={active ? 'active' : ''} aria-current={active ? 'page' : undefined}>
      {label}
    </Link>
  );
}

function Shell({ who, signOut }: { who: WhoamiAnswer; signOut: () => void }) {
  const nav = NAV.filter(([href]) => href !== '/run' || who.Role !== 'read');
  return (
    <RoleContext.Provider value={who.Role}>
      <header class="top">
        <span class="brand">fleetcmd</span>
        <nav aria-label="Console">
          {nav.map(([href, label]) => (
            <NavLink key={href} href={href} label={label} />
          ))}
        </nav>
        <span class="who">
          {who.TokenName || 'no token'} · {who.Role === 'read' ? 'read-only' : who.Role}
          <button type="button" class="link" onClick={signOut}>
            Sign out
          </button>
        </span>
      </header>
      <main>
        <Switch>
          <Route path="/nodes" component={NodesPage} />
          <Route path="/run">{who.Role !== 'read' ? <RunPage /> : <Redirect to="/nodes" />}</Route>
          <Route path="/invocations" component={InvocationsPage} />
          <Route path="/invocations/:id">
            {(p: { id: string }) => <InvocationPage key={p.id} id={p.id} />}
          </Route>
          <Route path="/schedules">
            <Suspense fallback={<p class="loading">Loading…</p>}>
              <SchedulesPage />
            </Suspense>
          </Route>
          <Route path="/commands" component={CommandsPage} />
          <Route>
            <Redirect to="/nodes" />
          </Route>
        </Switch>
      </main>
    </RoleContext.Provider>
  );
}

export function App() {
  const [who, setWho] = useState<WhoamiAnswer | undefined>();
  const [checking, setChecking] = useState(session.token() !== null);
  const [unreachable, setUnreachable] = useState('');
  const signOut = () => {
    session.clear();
    setWho(undefined);
  };
  const check = () => {
    const token = session.token();
    if (token === null) return;
    setChecking(true);
    setUnreachable('');
    whoami(token)
      .then(setWho)
      .catch((err: unknown) => {
        // Only a refused token signs out. A network error (the server restarting, or this fetch
        // cut short by a reload) keeps the token and offers a retry.
        if (err instanceof ApiError && err.status === 401) signOut();
        else setUnreachable(String(err));
      })
      .finally(() => setChecking(false));
  };
  useEffect(() => {
    setUnauthorizedHandler(signOut);
    check();
  }, []);
  if (checking) return <p class="loading">Loading…</p>;
  if (unreachable)
    return (
      <main class="sign-in">
        <p role="alert">The server did not answer: {unreachable}</p>
        <button type="button" onClick={check}>
          Retry
        </button>
      </main>
    );
  return (
    <Router base="/ui">
      {who ? (
        <SWRConfig value={{ fetcher: fetchAction, revalidateOnFocus: false }}>
          <Shell who={who} signOut={signOut} />
        </SWRConfig>
      ) : (
        <SignIn
          onSignedIn={(token, answer) => {
            session.save(token);
            setWho(answer);
          }}
        />
      )}
    </Router>
  );
}
