import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { before, describe, it } from 'node:test';
import {
  apiFor,
  startFleetAgent,
  startFleetServer,
  useFaultFixture,
  waitAllFinal,
  type Call,
} from '../helpers/fleet.js';
import { HANG_MS } from '../helpers/hang.js';
import { singleRedisOnly } from '../helpers/redis.js';
import { waitFor } from '../helpers/stack.js';

/**
 * `fleetcmd agent` as production starts it (`node bin/fleetcmd.js agent`) runs from its bundle,
 * dist/agent/ (scripts/bundle-agent.mjs, `npm run build`): it runs a command end to end, its
 * spawner is the bundle's, it carries its Redis scripts (no .lua file beside it to lose to a
 * rebuild), and tracing, whose SDK stays outside the bundle, still exports.
 */

/** The command lines of `pid`'s child processes. */
async function childCommandLines(pid: number): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid !== pid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    out.push(cmdline.split('\0').join(' '));
  }
  return out;
}

/** Runs `command` on `nodeId`: its final status and its output. */
async function runOn(call: Call, nodeId: string, command: string) {
  const res = await call('RunCommand', { NodeIdList: [nodeId], CommandContent: command });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const invokeId = String(res.body.InvokeId);
  const final = await waitAllFinal(call, [invokeId], HANG_MS);
  const described = await call('DescribeInvocations', { InvokeId: invokeId, IncludeOutput: true });
  const inv = (
    described.body.Invocations as {
      Invocation: { InvokeNodes: { InvokeNode: { Output?: string }[] } }[];
    }
  ).Invocation[0];
  const output = Buffer.from(inv?.InvokeNodes.InvokeNode[0]?.Output ?? '', 'base64').toString();
  return { status: final.get(`${invokeId} ${nodeId}`), output };
}

// Its fleet (the faults suite's fixture) takes the single Redis's URL: skipped on the test cluster.
void describe(
  'e2e: the bundled agent (bin/fleetcmd.js agent)',
  { skip: singleRedisOnly("its fleet is the faults suite's, on one Redis's URL") },
  () => {
    const fx = useFaultFixture();
    let call: Call;

    before(async () => {
      const server = await startFleetServer(fx.env);
      call = apiFor(() => server.url, fx.env);
    });

    void it('runs a command end to end, with the spawner from dist/agent/ and no .lua file there', async () => {
      // Nothing for it to read scripts from in dist/agent/ (and from there, src/store/lua/ is
      // not where a file lookup would go): the run below works on the bundle's own copy.
      const bundled = await readdir(new URL('../../dist/agent/', import.meta.url), {
        recursive: true,
      });
      assert.deepEqual(
        bundled.filter((f) => f.endsWith('.lua')),
        [],
      );
      const agent = await startFleetAgent('bundle1', fx.env);
      const spawners = await waitFor(
        'the agent’s spawner',
        async () => {
          const lines = await childCommandLines(agent.pid);
          return lines.length > 0 ? lines : undefined;
        },
        HANG_MS,
      );
      assert.ok(
        spawners.some((l) => l.includes('/dist/agent/spawner-main.js')),
        `the spawner runs from the bundle: ${spawners.join('; ')}`,
      );
      const { status, output } = await runOn(call, 'bundle1', 'echo "from the $0 of the bundle"');
      assert.equal(status, 'Success');
      assert.match(output, /^from the .+ of the bundle\n$/);
    });

    void it('exports its traces through the OpenTelemetry SDK outside the bundle', async () => {
      const posts: string[] = [];
      const receiver = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          posts.push(`${req.method} ${req.url} ${Buffer.concat(chunks).toString()}`);
          res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        });
      });
      await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
      try {
        const addr = receiver.address();
        const port = typeof addr === 'object' && addr ? addr.port : 0;
        await startFleetAgent('bundle2', {
          ...fx.env,
          OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
          OTEL_BSP_SCHEDULE_DELAY: '100',
        });
        const { status } = await runOn(call, 'bundle2', 'true');
        assert.equal(status, 'Success');
        await waitFor(
          'the agent’s run span at the receiver',
          async () => posts.some((p) => p.startsWith('POST /v1/traces ') && p.includes('"run"')),
          HANG_MS,
        );
      } finally {
        receiver.close();
      }
    });
  },
);
