import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { AppError } from '../../app/errors.js';

/**
 * Headers of every /ui/ answer. Scripts and styles come from this origin only (no inline script,
 * no eval), nothing may frame the console, and the browser sniffs no type: command output is
 * attacker-controlled text, so the page must never be able to run what it shows.
 */
export const CONSOLE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; '),
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
};

/**
 * Where `npm run build` put the console (vite's outDir, dist/console): beside the compiled
 * server (dist/src/api/plugins -> dist/console), or under dist/ when the server runs from src/.
 */
export function consoleDir(): string | undefined {
  const candidates = ['../../../console/', '../../../dist/console/'].map((rel) =>
    fileURLToPath(new URL(rel, import.meta.url)),
  );
  return candidates.find((dir) => existsSync(`${dir}index.html`));
}

function withHeaders(reply: FastifyReply, headers: Readonly<Record<string, string>>): void {
  for (const [name, value] of Object.entries(headers)) void reply.header(name, value);
}

/**
 * The web console at /ui/ (register with prefix `/ui`): its built files, and index.html for
 * every other path under /ui/ so a deep link (/ui/invocations/t-…) survives a reload; the
 * client-side router takes it from there. Unknown files under /ui/assets/ are 404s, not the
 * page. Without a build, /ui/ answers 503 naming the command that builds it.
 */
export function consolePlugin(dir = consoleDir()) {
  return async (ui: FastifyInstance): Promise<void> => {
    ui.addHook('onSend', async (_req, reply) => withHeaders(reply, CONSOLE_HEADERS));
    if (dir === undefined) {
      ui.get('/*', () => {
        throw new AppError('ServiceUnavailable', 'the console is not built: run npm run build');
      });
      return;
    }
    await ui.register(fastifyStatic, {
      root: dir,
      index: false,
      // Hashed names: a file under assets/ never changes, index.html always may.
      cacheControl: false,
      setHeaders: (res, path) => {
        res.setHeader(
          'cache-control',
          path.includes('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
        );
      },
    });
    ui.setNotFoundHandler((req, reply) => {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        throw new AppError('InvalidAction.NotFound', `no route ${req.method} ${req.url}`);
      }
      if (req.url.startsWith('/ui/assets/')) {
        throw new AppError('InvalidAction.NotFound', `no file ${req.url.split('?')[0]}`);
      }
      return reply.sendFile('index.html');
    });
    ui.get('/', (_req, reply) => reply.sendFile('index.html'));
  };
}
