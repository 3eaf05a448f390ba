import { accessSync, constants, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { HANG_MS, hangBound } from './hang.js';

/**
 * Debian's chromium (`apt-get install chromium`; .ci/run installs it when missing), or the
 * browser named by CHROMIUM_PATH. playwright-core downloads no browser of its own.
 */
export function chromiumPath(): string {
  const candidates = [
    process.env.CHROMIUM_PATH,
    '/usr/bin/chromium',
    '/usr/bin/chromium-browser',
    '/usr/lib/chromium/chromium',
    '/snap/bin/chromium',
  ].filter((p): p is string => typeof p === 'string' && p !== '');
  for (const p of candidates) {
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // next candidate
    }
  }
  throw new Error(
    `no chromium found (looked at ${candidates.join(', ')}): apt-get install chromium, or set CHROMIUM_PATH`,
  );
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    args: ['--disable-gpu'],
    timeout: HANG_MS,
  });
}

/** This process's descendants (pids) whose command line holds `what`, from /proc. */
export function descendantsRunning(what: string): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // Field 4 (ppid) follows the command name in parentheses, which may hold spaces.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(name), ppid);
    } catch {
      // gone meanwhile
    }
  }
  const mine = (pid: number): boolean => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) {
      if (p === process.pid) return true;
    }
    return false;
  };
  return [...parent.keys()].filter((pid) => {
    if (!mine(pid)) return false;
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(what);
    } catch {
      return false;
    }
  });
}

/**
 * Closes the browser; one that does not close within the hang bound (a wedged chromium) is
 * killed, so a test file's teardown never outlives its tests (a file left running ends only at
 * the runner's file timeout, with no word of which test passed). Says so on stderr.
 */
export async function closeBrowser(browser: Browser | undefined): Promise<void> {
  if (!browser) return;
  try {
    await hangBound('closing chromium', browser.close());
  } catch (err) {
    const pids = descendantsRunning('chromium');
    process.stderr.write(`${String(err)}: killing ${pids.length} chromium processes\n`);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  }
}

const AXE_SOURCE = readFileSync(
  createRequire(import.meta.url).resolve('axe-core/axe.min.js'),
  'utf8',
);

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: unknown[] }[];
}

/**
 * axe-core's serious and critical violations on the page as it is now. The engine is evaluated
 * through the DevTools protocol, which the page's CSP (no inline script) does not govern.
 */
export async function seriousViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(AXE_SOURCE);
  // A string, evaluated in the page (this file is compiled without the DOM's types).
  const violations = (await page.evaluate(`axe
    .run({ resultTypes: ['violations'] })
    .then((r) => r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target })),
    })))`)) as AxeViolation[];
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/**
 * Presses Tab until the focused element is the one `matches` accepts (by its label, text or
 * aria-label), at most `max` times: keyboard-only navigation, no click and no focus() call.
 */
export async function tabTo(page: Page, name: string | RegExp, max = 60): Promise<void> {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const focused = (await page.evaluate(`(() => {
      const el = document.activeElement;
      if (!el) return '';
      const label = el.getAttribute('aria-label') ?? el.labels?.[0]?.textContent;
      return (label ?? el.textContent ?? '').trim();
    })()`)) as string;
    if (typeof name === 'string' ? focused.startsWith(name) : name.test(focused)) return;
  }
  throw new Error(`Tab never reached ${String(name)}`);
}
