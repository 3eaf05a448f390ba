/**
 * The layering rules in eslint.config.js, run through ESLint itself on probe sources placed (in
 * name only) in each folder: src/domain imports no I/O module and no upper layer, only
 * src/store spells a Redis key segment, production functions stay under 80 lines.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ESLint } from 'eslint';

const RULES = ['no-restricted-imports', 'no-restricted-syntax', 'max-lines-per-function'];

// Type-aware parsing needs files on disk; these rules read syntax alone.
const eslint = new ESLint({
  cwd: new URL('../..', import.meta.url).pathname,
  overrideConfig: { languageOptions: { parserOptions: { projectService: false } } },
  ruleFilter: ({ ruleId }) => RULES.includes(ruleId),
});

/** The 1-based lines of `code` that ESLint flags with `rule` when it sits at `filePath`. */
async function flagged(filePath: string, code: string, rule: string): Promise<number[]> {
  const [result] = await eslint.lintText(code, { filePath });
  assert.ok(result);
  const fatal = result.messages.filter((m) => m.fatal);
  assert.deepEqual(fatal, [], `ESLint could not parse the probe at ${filePath}`);
  return result.messages.filter((m) => m.ruleId === rule).map((m) => m.line);
}

void describe('layering rules (eslint.config.js)', () => {
  const IMPORTS = [
    "import { Redis } from 'ioredis';",
    "import { Queue } from 'bullmq';",
    "import fastify from 'fastify';",
    "import { readFile } from 'node:fs/promises';",
    "import { spawn } from 'node:child_process';",
    "import { createServer } from 'node:net';",
    "import { Keys } from '../store/keys.js';",
    "import { buildServer } from '../api/server.js';",
    "import { Scheduler } from '../scheduler/worker.js';",
    "import { statusOf } from './status.js';",
    "import { z } from 'zod';",
    'export const all = [Redis, Queue, fastify, readFile, spawn, createServer, Keys, buildServer, Scheduler, statusOf, z];',
  ].join('\n');

  void it('src/domain may import neither I/O modules nor store, api or scheduler', async () => {
    // Lines 1-9 are refused; the sibling domain module and zod (lines 10, 11) are allowed.
    assert.deepEqual(
      await flagged('src/domain/probe.ts', IMPORTS, 'no-restricted-imports'),
      [1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
  });

  void it('the same imports are allowed in src/store, which does the I/O', async () => {
    assert.deepEqual(await flagged('src/store/probe.ts', IMPORTS, 'no-restricted-imports'), [8, 9]);
  });

  void it('the agent may not import the server side (api, scheduler, app)', async () => {
    const code = [
      "import { buildServer } from '../../src/api/server.js';",
      "import { submit } from '../../src/app/submit-invocation.js';",
      "import { Keys } from '../../src/store/keys.js';",
      'export const all = [buildServer, submit, Keys];',
    ].join('\n');
    assert.deepEqual(
      await flagged('workers/agent/probe.ts', code, 'no-restricted-imports'),
      [1, 2],
    );
  });

  const KEY_CODE = [
    'const prefix = "fc";',
    'export const a = `${prefix}:node:{n1}:info`;',
    "export const b = 'fc:nq:{n1}:wait';",
    "export const c = 'fc:inv:t-1';",
    "export const d = 'a node: {n1} is fine in prose';",
    "export const e = 'InvokeId:inv';",
  ].join('\n');

  void it('only src/store spells a Redis key segment', async () => {
    assert.deepEqual(
      await flagged('src/api/probe.ts', KEY_CODE, 'no-restricted-syntax'),
      [2, 3, 4],
    );
    assert.deepEqual(
      await flagged('workers/agent/probe.ts', KEY_CODE, 'no-restricted-syntax'),
      [2, 3, 4],
    );
    assert.deepEqual(await flagged('src/store/probe.ts', KEY_CODE, 'no-restricted-syntax'), []);
  });

  void it('a production function over 80 lines is refused; tests are not held to it', async () => {
    const body = Array.from({ length: 81 }, (_, i) => `  total += ${i};`).join('\n');
    const code = `export function long(): number {\n  let total = 0;\n${body}\n  return total;\n}\n`;
    assert.deepEqual(await flagged('src/app/probe.ts', code, 'max-lines-per-function'), [1]);
    assert.deepEqual(await flagged('test/unit/probe.test.ts', code, 'max-lines-per-function'), []);
  });
});
