/**
 * Screenshots of each console page for docs/console.md, taken from a running stack (`npm start`)
 * with FLEETCMD_URL and FLEETCMD_API_TOKEN set as for the CLI. It first creates a little to
 * show: a run on n1 and n2 that fails on n2 (so the invocation shows its output groups and
 * Rerun failed), a schedule, a saved command.
 * Usage: npm run docs:screenshots
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchChromium } from '../test/helpers/browser.js';

const url = process.env.FLEETCMD_URL ?? 'http://127.0.0.1:8080';
const token = process.env.FLEETCMD_API_TOKEN ?? '';
const OUT = new URL('../docs/img/', import.meta.url).pathname;

async function call(action: string, body: object): Promise<Record<string, unknown>> {
  const res = await fetch(`${url}/v1/${action}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${action}: ${JSON.stringify(answer)}`);
  return answer;
}

// One node at a time, n1 first: n1 makes the marker and reports ok, n2 finds it and fails.
const marker = join(tmpdir(), `fleetcmd-screenshot-${randomBytes(6).toString('hex')}`);
const run = await call('RunCommand', {
  NodeIdList: ['n1', 'n2'],
  Name: 'disk-report',
  MaxConcurrency: '1',
  CommandContent:
    'printf "\\033[1mdisk usage\\033[0m\\n"; df -h / | tail -1; ' +
    `if mkdir ${marker} 2>/dev/null; then printf "\\033[32mok\\033[0m\\n"; ` +
    'else printf "\\033[31mreport already sent\\033[0m\\n"; exit 1; fi',
});
await call('RunCommand', {
  NodeIdList: ['n1'],
  Name: 'uptime',
  Frequency: 'rate(1m)',
  CommandContent: 'uptime',
});
const saved = (await call('DescribeCommands', { Name: 'restart-service' })) as {
  Commands: { Command: unknown[] };
};
if (saved.Commands.Command.length === 0) {
  await call('CreateCommand', {
    Name: 'restart-service',
    Description: 'restart a systemd unit',
    CommandContent: 'systemctl restart {{unit}}',
    EnableParameter: true,
  });
}

const browser = await launchChromium();
const page = await browser.newPage({ viewport: { width: 1200, height: 860 } });
await page.goto(`${url}/ui/nodes`);
await page.getByLabel('API token').fill(token);
await page.getByRole('button', { name: 'Sign in' }).click();
await page.getByRole('button', { name: 'Sign out' }).waitFor();

const shots: [string, string, string][] = [
  ['nodes', '/ui/nodes', 'Nodes'],
  ['run', '/ui/run', 'Run a command'],
  ['invocation', `/ui/invocations/${String(run.InvokeId)}`, 'disk-report'],
  ['invocations', '/ui/invocations', 'Invocations'],
  ['schedules', '/ui/schedules', 'Schedules'],
  ['commands', '/ui/commands', 'Saved commands'],
];
for (const [name, path, heading] of shots) {
  await page.goto(`${url}${path}`);
  await page.getByRole('heading', { name: heading }).first().waitFor();
  if (name === 'invocation') {
    await page.getByTestId('output').getByText('ok').waitFor();
    await page.getByRole('region', { name: 'Identical outputs' }).getByText('n2').waitFor();
  }
  if (name === 'nodes') await page.getByText('n2', { exact: true }).waitFor();
  if (name === 'invocations')
    await page.getByRole('link', { name: String(run.InvokeId) }).waitFor();
  if (name === 'schedules') await page.getByRole('cell', { name: 'uptime' }).first().waitFor();
  if (name === 'commands')
    await page.getByRole('cell', { name: 'restart-service', exact: true }).waitFor();
  if (name === 'run') {
    await page.getByLabel('Node ids').fill('n1, n2');
    await page.getByLabel('Command', { exact: true }).fill('uptime\ndf -h /');
  }
  await page.screenshot({ path: `${OUT}console-${name}.png` });
  console.log(`docs/img/console-${name}.png`);
}
await browser.close();
rmSync(marker, { recursive: true, force: true });
