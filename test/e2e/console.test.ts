/**
 * The web console (/ui/) in a real browser: Debian's chromium driven by playwright-core against
 * a real stack (server, Redis, agents n1 and n2). One browser for the file, a fresh context
 * (so a fresh sessionStorage) per case. Every wait is on a DOM state; HANG_MS only bounds hangs.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { closeBrowser, launchChromium, seriousViolations, tabTo } from '../helpers/browser.js';
import { HANG_MS, exitOnceDone } from '../helpers/hang.js';
import { makeStack, type Stack } from '../helpers/stack.js';

const XSS = '<img src=x onerror=alert(1)><script>alert(2)</script>';

void describe('the web console in chromium', () => {
  let stack: Stack;
  let browser: Browser;
  const readToken = randomBytes(16).toString('hex');
  const contexts: BrowserContext[] = [];
  /** Dialogs any page raised (alert, confirm...): the XSS case expects none. */
  const dialogs: string[] = [];

  before(async () => {
    stack = await makeStack({ FLEETCMD_API_TOKENS: `viewer:read:${readToken}` });
    // One at a time: on a busy machine three start-ups at once can outrun an agent's start bound.
    await stack.startAgent('n1');
    await stack.startAgent('n2');
    browser = await launchChromium();
  });
  after(async () => {
    await closeBrowser(browser);
    await stack?.close();
    exitOnceDone('test/e2e/console.test.ts');
  });

  /** A page in a fresh context (no token yet), failing on CSP reports and script errors. */
  async function newPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    contexts.push(context);
    context.setDefaultTimeout(HANG_MS);
    const page = await context.newPage();
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on('pageerror', (e) => assert.fail(`script error on ${page.url()}: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy/.test(m.text())) assert.fail(m.text());
    });
    return page;
  }

  /** Signs in by keyboard alone: Tab to the token field, type, Enter. */
  async function signIn(page: Page, token: string, path = '/ui/nodes'): Promise<void> {
    await page.goto(`${stack.url}${path}`);
    await page.getByLabel('API token').waitFor();
    await tabTo(page, 'API token');
    await page.keyboard.type(token);
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
  }

  async function assertAccessible(page: Page, what: string): Promise<void> {
    const v = await seriousViolations(page);
    assert.deepEqual(v, [], `${what}: axe-core found serious or critical violations`);
  }

  const nodeRow = (page: Page, node: string) =>
    page.getByRole('row').filter({ has: page.getByRole('cell', { name: node, exact: true }) });

  void it('signs in by keyboard, lists n1 and n2 online, keeps the token out of URLs and cookies', async () => {
    const page = await newPage();
    await page.goto(`${stack.url}/ui/`);
    await page.getByLabel('API token').waitFor();
    await assertAccessible(page, 'sign-in');
    await signIn(page, stack.token);
    for (const n of ['n1', 'n2']) await nodeRow(page, n).filter({ hasText: 'online' }).waitFor();
    assert.match(page.url(), /\/ui\/nodes$/);
    assert.equal(await page.evaluate("sessionStorage.getItem('fleetcmd.apiToken')"), stack.token);
    assert.deepEqual(await page.context().cookies(), []);
    assert.ok(!page.url().includes(stack.token));
    await assertAccessible(page, 'nodes');
  });

  void it('runs a command by keyboard and shows it reach Success with its output', async () => {
    const page = await newPage();
    await signIn(page, stack.token, '/ui/run');
    await page.getByRole('heading', { name: 'Run a command' }).waitFor();
    await assertAccessible(page, 'run');
    await tabTo(page, 'Node ids');
    await page.keyboard.type('n1, n2');
    await tabTo(page, 'Command');
    await page.keyboard.type('echo "hello from the console"');
    await tabTo(page, 'Run');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/ui\/invocations\/t-[a-z0-9]+$/);
    await page
      .getByRole('heading', { level: 1 })
      .locator('.badge', { hasText: 'Success' })
      .waitFor();
    for (const n of ['n1', 'n2']) await nodeRow(page, n).filter({ hasText: 'Success' }).waitFor();
    await page.getByTestId('output').filter({ hasText: 'hello from the console' }).waitFor();
    await assertAccessible(page, 'invocation');
  });

  void it('runs a command on the nodes a tag picks', async () => {
    const tagged = await stack.call('TagResources', {
      ResourceType: 'node',
      ResourceId: ['n2'],
      Tag: [{ Key: 'team', Value: 'console-e2e' }],
    });
    assert.equal(tagged.status, 200);
    const page = await newPage();
    await signIn(page, stack.token, '/ui/run');
    await page.getByLabel('Or tags').fill('team=console-e2e');
    await page.getByLabel('Command', { exact: true }).fill('echo "picked by tag"');
    await page.getByRole('button', { name: 'Run', exact: true }).click();
    await page.waitForURL(/\/ui\/invocations\/t-[a-z0-9]+$/);
    await nodeRow(page, 'n2').filter({ hasText: 'Success' }).waitFor();
    await page.getByTestId('output').filter({ hasText: 'picked by tag' }).waitFor();
    assert.equal(await nodeRow(page, 'n1').count(), 0);
  });

  void it('stops a sleep 60 run by keyboard', async () => {
    const page = await newPage();
    const run = await stack.call('RunCommand', { NodeIdList: ['n1'], CommandContent: 'sleep 60' });
    const id = (run.body as { InvokeId: string }).InvokeId;
    await signIn(page, stack.token, `/ui/invocations/${id}`);
    await nodeRow(page, 'n1').filter({ hasText: 'Running' }).waitFor();
    await tabTo(page, 'Stop invocation');
    await page.keyboard.press('Enter');
    await page
      .getByRole('heading', { level: 1 })
      .locator('.badge', { hasText: 'Stopped' })
      .waitFor();
    await nodeRow(page, 'n1').filter({ hasText: 'Terminated' }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Stop invocation' }).count(), 0);
  });

  void it('stops one node of a run with its own Stop button, leaving the other running', async () => {
    const page = await newPage();
    const run = await stack.call('RunCommand', {
      NodeIdList: ['n1', 'n2'],
      CommandContent: 'sleep 60',
    });
    const id = (run.body as { InvokeId: string }).InvokeId;
    await signIn(page, stack.token, `/ui/invocations/${id}`);
    for (const n of ['n1', 'n2']) await nodeRow(page, n).filter({ hasText: 'Running' }).waitFor();
    await page.getByRole('button', { name: 'Stop n1', exact: true }).click();
    await nodeRow(page, 'n1').filter({ hasText: 'Terminated' }).waitFor();
    // The same answer that shows n1 Terminated shows n2: still running, the invocation too.
    assert.equal(await nodeRow(page, 'n2').filter({ hasText: 'Running' }).count(), 1);
    assert.equal(await page.getByRole('button', { name: 'Stop invocation' }).count(), 1);
    const n2 = (await stack.describe(id)).InvokeNodes.InvokeNode.find((n) => n.NodeId === 'n2');
    assert.equal(n2?.InvocationStatus, 'Running');
    await stack.call('StopInvocation', { InvokeId: id });
    await nodeRow(page, 'n2').filter({ hasText: 'Terminated' }).waitFor();
  });

  void it('marks the bytes dropped from an output over 24 KiB', async () => {
    const page = await newPage();
    const run = await stack.call('RunCommand', {
      NodeIdList: ['n2'],
      CommandContent: "echo the-start; head -c 30000 /dev/zero | tr '\\0' x; echo; echo the-end",
    });
    const id = (run.body as { InvokeId: string }).InvokeId;
    await signIn(page, stack.token, `/ui/invocations/${id}`);
    await nodeRow(page, 'n2').filter({ hasText: 'Success' }).waitFor();
    const n2 = (await stack.describe(id)).InvokeNodes.InvokeNode[0];
    assert.ok(n2 && n2.Dropped > 0, `nothing dropped: ${JSON.stringify(n2?.Dropped)}`);
    const output = page.getByTestId('output');
    await output.filter({ hasText: `… ${n2.Dropped} bytes dropped …` }).waitFor();
    const text = (await output.textContent()) ?? '';
    assert.match(text, /^the-start\n/);
    assert.match(text, /the-end\n$/);
  });

  void it('follows a run by the event stream, its token in a header and never in the URL', async () => {
    const page = await newPage();
    const streams: { url: string; auth: string | undefined }[] = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/v1/events')
        streams.push({ url: r.url(), auth: r.headers().authorization });
    });
    const run = await stack.call('RunCommand', { NodeIdList: ['n1'], CommandContent: 'sleep 60' });
    const id = (run.body as { InvokeId: string }).InvokeId;
    await signIn(page, stack.token, `/ui/invocations/${id}`);
    await nodeRow(page, 'n1').filter({ hasText: 'Running' }).waitFor();
    await page.getByText('live, by the event stream').waitFor();
    // The page does not poll while its stream is open: the stop, made outside the page, shows
    // because its events (RunFinished, InvocationFinished) arrived.
    await stack.call('StopInvocation', { InvokeId: id });
    await nodeRow(page, 'n1').filter({ hasText: 'Terminated' }).waitFor();
    await page
      .getByRole('heading', { level: 1 })
      .locator('.badge', { hasText: 'Stopped' })
      .waitFor();
    assert.ok(streams.length > 0, 'no request to /v1/events');
    for (const s of streams) {
      assert.equal(s.auth, `Bearer ${stack.token}`);
      assert.ok(!s.url.includes(stack.token), `token in ${s.url}`);
      assert.equal(new URL(s.url).searchParams.get('InvokeId'), id);
    }
  });

  void it('polls instead when the server offers no event stream', async () => {
    const page = await newPage();
    await page.route(
      (url) => url.pathname === '/v1/events',
      (r) => r.fulfill({ status: 404, contentType: 'application/json', body: '{}' }),
    );
    const run = await stack.call('RunCommand', { NodeIdList: ['n2'], CommandContent: 'sleep 60' });
    const id = (run.body as { InvokeId: string }).InvokeId;
    await signIn(page, stack.token, `/ui/invocations/${id}`);
    await nodeRow(page, 'n2').filter({ hasText: 'Running' }).waitFor();
    await page.getByText('polled every 1 s (no event stream)').waitFor();
    await stack.call('StopInvocation', { InvokeId: id });
    await nodeRow(page, 'n2').filter({ hasText: 'Terminated' }).waitFor();
  });

  void it('shows the next fire of a schedule, worked out from its Frequency', async () => {
    const run = await stack.call('RunCommand', {
      NodeIdList: ['n1'],
      CommandContent: 'true',
      Name: 'far-future',
      Frequency: '0 0 9 * * * 2099 UTC',
    });
    const id = (run.body as { InvokeId: string }).InvokeId;
    const page = await newPage();
    await signIn(page, stack.token, '/ui/schedules');
    // The browser's own rendering of 2099-01-01 09:00 UTC, as the page formats times.
    const expected = (await page.evaluate(
      `new Intl.DateTimeFormat(undefined, { dateStyle: 'short', timeStyle: 'medium' }).format(new Date('2099-01-01T09:00:00Z'))`,
    )) as string;
    const row = page
      .getByRole('region', { name: 'Period' })
      .getByRole('row')
      .filter({ has: page.getByRole('link', { name: id }) });
    await row.getByRole('cell', { name: expected, exact: true }).waitFor();
    await stack.call('StopInvocation', { InvokeId: id });
  });

  void it('survives a reload on every deep link', async () => {
    const page = await newPage();
    const run = await stack.call('RunCommand', { NodeIdList: ['n2'], CommandContent: 'echo deep' });
    const id = (run.body as { InvokeId: string }).InvokeId;
    await signIn(page, stack.token);
    const pages: [string, string][] = [
      ['/ui/nodes', 'Nodes'],
      ['/ui/invocations', 'Invocations'],
      [`/ui/invocations/${id}`, id],
      ['/ui/commands', 'Saved commands'],
      ['/ui/run', 'Run a command'],
      ['/ui/schedules', 'Schedules'],
    ];
    for (const [path, heading] of pages) {
      await page.goto(`${stack.url}${path}`);
      await page.reload();
      await page.getByRole('heading', { name: heading }).first().waitFor();
      assert.equal(new URL(page.url()).pathname, path);
      await assertAccessible(page, path);
    }
  });

  void it('keeps the token when the server does not answer, and signs out only on a refusal', async () => {
    const page = await newPage();
    await signIn(page, stack.token);
    // A network failure (server restarting, or a fetch cut short by a reload) is not a refusal.
    await page.route('**/v1/whoami', (r) => r.abort('connectionrefused'));
    await page.reload();
    await page.getByRole('button', { name: 'Retry' }).waitFor();
    assert.equal(await page.evaluate("sessionStorage.getItem('fleetcmd.apiToken')"), stack.token);
    await page.unroute('**/v1/whoami');
    await page.getByRole('button', { name: 'Retry' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    // A 401 does sign out and forgets the token.
    await page.evaluate("sessionStorage.setItem('fleetcmd.apiToken', 'not-a-token')");
    await page.reload();
    await page.getByLabel('API token').waitFor();
    assert.equal(await page.evaluate("sessionStorage.getItem('fleetcmd.apiToken')"), null);
  });

  void it('shows hostile output as text: no element is made and no dialog is raised', async () => {
    const page = await newPage();
    const run = await stack.call('RunCommand', {
      NodeIdList: ['n1'],
      CommandContent: `printf '%s\\n' '${XSS}'; printf '\\033[31mred\\033[0m plain\\n'`,
    });
    const id = (run.body as { InvokeId: string }).InvokeId;
    await signIn(page, stack.token, `/ui/invocations/${id}`);
    const output = page.getByTestId('output');
    await output.filter({ hasText: XSS }).waitFor();
    assert.equal(await output.locator('img, script').count(), 0);
    // The colour code became a class on a text span, not text and not markup.
    assert.equal(await output.locator('span.ansi-red-fg', { hasText: 'red' }).count(), 1);
    assert.doesNotMatch((await output.textContent()) ?? '', /\[31m/);
    assert.deepEqual(dialogs, []);
  });

  void it('creates a saved command and invokes it with a parameter', async () => {
    const page = await newPage();
    await signIn(page, stack.token, '/ui/commands');
    await page.getByRole('button', { name: 'New command' }).click();
    await page.getByLabel('Name', { exact: true }).fill('greet');
    await page.getByLabel('Command', { exact: true }).fill('echo "hi {{who}}"');
    await page.getByLabel('Takes parameters').check();
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('button', { name: 'Invoke greet' }).click();
    await page.getByLabel('Node ids').fill('n2');
    await page.getByLabel('Parameter who').fill('operators');
    await page.getByRole('button', { name: 'Invoke', exact: true }).click();
    await page.waitForURL(/\/ui\/invocations\/t-/);
    await page.getByTestId('output').filter({ hasText: 'hi operators' }).waitFor();
  });

  void it('gives a read-only token no Run, Stop or Delete, and the API refuses it too', async () => {
    const running = await stack.call('RunCommand', {
      NodeIdList: ['n2'],
      CommandContent: 'sleep 60',
    });
    const id = (running.body as { InvokeId: string }).InvokeId;
    const saved = await stack.call('CreateCommand', { Name: 'kept', CommandContent: 'true' });
    assert.equal(saved.status, 200);
    const page = await newPage();
    await signIn(page, readToken);
    await nodeRow(page, 'n1').waitFor();
    await page.getByText('read-only').waitFor();
    assert.equal(await page.getByRole('link', { name: 'Run' }).count(), 0);
    await page.goto(`${stack.url}/ui/invocations/${id}`);
    await nodeRow(page, 'n2').filter({ hasText: 'Running' }).waitFor();
    assert.equal(await page.getByRole('button', { name: /^Stop/ }).count(), 0);
    await page.goto(`${stack.url}/ui/commands`);
    await page.getByRole('cell', { name: 'kept', exact: true }).waitFor();
    assert.equal(await page.getByRole('button', { name: /Delete|New command|Invoke/ }).count(), 0);
    await page.goto(`${stack.url}/ui/run`);
    await page.waitForURL(/\/ui\/nodes$/);
    const refused = await stack.call('StopInvocation', { InvokeId: id }, { token: readToken });
    assert.equal(refused.status, 403);
    await stack.call('StopInvocation', { InvokeId: id });
  });

  void it('groups identical outputs and reruns only the failed node in a new invocation', async () => {
    // One node at a time, in NodeIdList order: n1 makes the marker and fails, n2 finds it,
    // waits for the test's `go` file and succeeds, and so does n1's rerun. The page is open
    // while n2 runs: the groups follow as runs end.
    const marker = join(tmpdir(), `fleetcmd-console-rerun-${randomBytes(6).toString('hex')}`);
    try {
      const run = await stack.call('RunCommand', {
        NodeIdList: ['n1', 'n2'],
        MaxConcurrency: '1',
        CommandContent: `if mkdir ${marker}; then echo broken; exit 3; fi; while [ ! -e ${marker}/go ]; do sleep 0.1; done; echo fine`,
      });
      assert.equal(run.status, 200);
      const id = (run.body as { InvokeId: string }).InvokeId;
      const page = await newPage();
      await signIn(page, stack.token, `/ui/invocations/${id}`);
      const groups = page.getByRole('region', { name: 'Identical outputs' }).getByRole('listitem');
      const failed = groups.filter({ hasText: /^1 node Failed exit 3 n1 / });
      const ok = groups.filter({ hasText: /^1 node Success exit 0 n2 / });
      await nodeRow(page, 'n2').filter({ hasText: 'Running' }).waitFor();
      await failed.waitFor();
      writeFileSync(join(marker, 'go'), '');
      await page
        .getByRole('heading', { level: 1 })
        .locator('.badge', { hasText: 'PartialFailed' })
        .waitFor();
      await ok.waitFor();
      assert.equal(await groups.count(), 2);
      // A group's output is its first node's, shown as text in the output panel.
      await failed.getByRole('button', { name: 'Show output of the group of n1' }).click();
      await page.getByRole('region', { name: 'Output of n1' }).getByText('broken').waitFor();
      await assertAccessible(page, 'invocation with groups');
      await page.getByRole('button', { name: 'Rerun failed (1 node)' }).click();
      await page.waitForURL(
        (u) => /\/ui\/invocations\/t-[a-z0-9]+$/.test(u.pathname) && !u.pathname.endsWith(id),
      );
      const rerunId = new URL(page.url()).pathname.split('/').pop() ?? '';
      await nodeRow(page, 'n1').filter({ hasText: 'Success' }).waitFor();
      await page.getByTestId('output').filter({ hasText: 'fine' }).waitFor();
      assert.equal(await nodeRow(page, 'n2').count(), 0);
      const rerun = await stack.describe(rerunId);
      assert.deepEqual(
        rerun.InvokeNodes.InvokeNode.map((n) => n.NodeId),
        ['n1'],
      );
      assert.equal(await page.getByRole('button', { name: /^Rerun/ }).count(), 0);
    } finally {
      rmSync(marker, { recursive: true, force: true });
    }
  });

  void it('lets a read-only token see the output groups but not Rerun', async () => {
    const run = await stack.call('RunCommand', { NodeIdList: ['n1'], CommandContent: 'exit 4' });
    const id = (run.body as { InvokeId: string }).InvokeId;
    const page = await newPage();
    await signIn(page, readToken, `/ui/invocations/${id}`);
    await nodeRow(page, 'n1').filter({ hasText: 'Failed' }).waitFor();
    await page
      .getByRole('region', { name: 'Identical outputs' })
      .getByRole('listitem')
      .filter({ hasText: /^1 node Failed exit 4 n1/ })
      .waitFor();
    assert.equal(await page.getByRole('button', { name: /^Rerun/ }).count(), 0);
    const refused = await stack.call('RerunInvocation', { InvokeId: id }, { token: readToken });
    assert.equal(refused.status, 403);
  });

  void it('serves /ui/ with strict headers and /docs/reference/ rendered locally', async () => {
    const res = await fetch(`${stack.url}/ui/invocations/t-anything`);
    assert.equal(res.status, 200);
    const csp = res.headers.get('content-security-policy') ?? '';
    const scriptSrc = /script-src ([^;]*)/.exec(csp)?.[1] ?? '';
    assert.equal(scriptSrc.trim(), "'self'");
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal((await fetch(`${stack.url}/ui/assets/missing.js`)).status, 404);
    const page = await newPage();
    await page.goto(`${stack.url}/docs`, { waitUntil: 'domcontentloaded' });
    await page.waitForURL(/\/docs\/reference\/$/);
    await page.getByText('RunCommand').first().waitFor();
    const json = await fetch(`${stack.url}/docs`);
    assert.match(json.headers.get('content-type') ?? '', /application\/json/);
  });
});
