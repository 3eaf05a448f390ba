#!/usr/bin/env node
// Bundles the agent for `fleetcmd agent` (bin/fleetcmd.js runs it): part of `npm run build`,
// after tsc. Writes dist/agent/:
//   fleetcmd-agent.js   src/cli/agent-main.ts and all it imports, node_modules included, in one
//                       file: an agent then loads one module instead of ~480 and holds ~20 MiB
//                       less when idle (bench/RESULTS.md, notes of 2026-12-06)
//   spawner-main.js     the spawner it forks (spawner.ts looks for it beside itself)
// The Redis scripts go inside fleetcmd-agent.js (FLEETCMD_BUNDLED_LUA, read by
// src/store/scripts.ts): a running agent reads no file of dist/ after it has loaded, so a build
// under way beside it (which empties dist/agent/ first) cannot take its scripts away.
// Left out, loaded from dist/ and node_modules as before: the OpenTelemetry SDK (only when
// tracing is on). Left out for good: msgpackr's optional native addon (3.5-9 MiB resident; it
// speeds up decoding long strings, which the agent does not do: BullMQ only packs with it).
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { build } from 'esbuild';

const OUT = 'dist/agent';

/** The tracing SDK stays the compiled module beside the CLI's, imported only when tracing is on. */
const otelOutside = {
  name: 'otel-sdk-outside',
  setup(b) {
    b.onResolve({ filter: /^\.\/otel-sdk\.js$/ }, () => ({
      path: '../src/shared/otel-sdk.js',
      external: true,
    }));
  },
};

/** msgpackr takes a failing require of its native addon for "not installed" and goes on without. */
const nativeLeftOut = {
  name: 'msgpackr-extract-left-out',
  setup(b) {
    b.onResolve({ filter: /^msgpackr-extract$/ }, (args) => ({
      path: args.path,
      namespace: 'left-out',
    }));
    b.onLoad({ filter: /.*/, namespace: 'left-out' }, () => ({
      contents: "throw new Error('msgpackr-extract is left out of the agent bundle');",
    }));
  },
};

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Whitespace and syntax only: names stay as written, which errors and logs show (ioredis's
  // and BullMQ's error names are their classes' names). esbuild's keepNames would cost ~6 MiB.
  minifyWhitespace: true,
  minifySyntax: true,
  // Read only with --enable-source-maps (NODE_OPTIONS), for readable stacks.
  sourcemap: 'linked',
  external: ['@opentelemetry/*', 'bullmq-otel'],
  logLevel: 'warning',
};

/** Every .lua file under src/store/lua, by its path there (`includes/prelude.lua`). */
function luaSources() {
  const root = 'src/store/lua';
  const out = {};
  for (const e of readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (!e.isFile() || !e.name.endsWith('.lua')) continue;
    const file = join(e.parentPath, e.name);
    out[relative(root, file)] = readFileSync(file, 'utf8');
  }
  return out;
}

rmSync(OUT, { recursive: true, force: true });
await build({
  ...common,
  entryPoints: ['src/cli/agent-main.ts'],
  outfile: `${OUT}/fleetcmd-agent.js`,
  plugins: [otelOutside, nativeLeftOut],
  // A JSON string literal: one copy in the bundle, parsed once when the scripts load.
  define: { FLEETCMD_BUNDLED_LUA: JSON.stringify(JSON.stringify(luaSources())) },
  // The CommonJS packages (ioredis, pino, ...) call require() for Node's own modules.
  banner: {
    js: "import { createRequire as __fleetcmdRequire } from 'node:module'; const require = __fleetcmdRequire(import.meta.url);",
  },
});
await build({
  ...common,
  entryPoints: ['workers/agent/spawner-main.ts'],
  outfile: `${OUT}/spawner-main.js`,
});
