import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/** Swagger UI's own files, served from its npm package (no CDN): only what the page loads. */
const SWAGGER_FILES = ['swagger-ui.css', 'swagger-ui-bundle.js', 'favicon-32x32.png'];

const PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>fleetcmd API reference</title>
    <link rel="stylesheet" href="/docs/reference/swagger-ui.css" />
    <link rel="icon" type="image/png" href="/docs/reference/favicon-32x32.png" />
  </head>
  <body>
    <main id="swagger-ui"></main>
    <script src="/docs/reference/swagger-ui-bundle.js"></script>
    <script src="/docs/reference/init.js"></script>
  </body>
</html>
`;

/** The page's one script of ours, a file rather than inline so the CSP can forbid inline ones. */
const INIT = `window.ui = SwaggerUIBundle({
  url: '/docs/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  supportedSubmitMethods: [],
});
`;

/** Swagger UI sets styles from script (and needs no inline script or eval of ours). */
const REFERENCE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
};

/**
 * GET /docs/reference/: the OpenAPI document (GET /docs/openapi.json) rendered by Swagger UI
 * from the swagger-ui-dist package, read-only ("Try it out" is off: calls need a token).
 */
export async function apiReferencePlugin(ref: FastifyInstance): Promise<void> {
  const root = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  ref.addHook('onSend', async (_req, reply) => {
    for (const [k, v] of Object.entries(REFERENCE_HEADERS)) void reply.header(k, v);
  });
  await ref.register(fastifyStatic, {
    root,
    prefix: '/docs/reference/',
    wildcard: false,
    index: false,
    decorateReply: false,
    allowedPath: (path) => SWAGGER_FILES.includes(path.replace(/^\//, '')),
  });
  ref.get('/docs/reference/', (_req, reply) => reply.type('text/html').send(PAGE));
  ref.get('/docs/reference/init.js', (_req, reply) => reply.type('text/javascript').send(INIT));
}
