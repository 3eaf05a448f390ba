import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FINAL_NODE_STATUSES, type NodeStatus } from '../../src/domain/status.js';
import { targetEnv } from '../../src/shared/redis-target.js';
import type { RedisClient } from '../../src/store/redis.js';
import { startedUrl } from '../helpers/hang.js';
import { clientOf, freshPrefix, onEachServer, redisTarget } from '../helpers/redis.js';
import { CLI, waitFor, type ApiResponse } from '../helpers/stack.js';

/**
 * A real server and agent as child processes, their stdout and stderr captured, at LOG_LEVEL
 * info and debug: what a run's content, output and parameters are, and the secrets the
 * processes hold (API token, Redis password, the agent's own environment), never appear in
 * their logs.
 */

interface Proc {
  child: ChildProcess;
  log: () => string;
}

function start(args: string[], env: Record<string, string>): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  return { child, log: () => log };
}

async function stop(p: Proc | undefined): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = once(p.child, 'exit');
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

const mark = (what: string) => `${what}${randomBytes(6).toString('hex')}`;

for (const level of ['info', 'debug'] as const) {
  void describe(`logs at LOG_LEVEL=${level}`, () => {
    const token = mark('apitoken');
    const password = mark('redispw');
    const agentSecret = mark('agentsecret');
    const user = mark('fclog');
    // Unique texts that a leak would carry into a log line.
    const contentMark = mark('contentmark');
    const outputMark = mark('outputmark');
    const paramMark = mark('parammark');
    const savedMark = mark('savedmark');
    const fileMark = mark('filemark');
    const rejectedMark = mark('rejectedmark');
    const wrongToken = mark('wrongtoken');
    let admin: RedisClient;
    let server: Proc | undefined;
    let agent: Proc | undefined;
    let url = '';
    let dir = '';

    const call = async (action: string, body: unknown, auth = token): Promise<ApiResponse> => {
      const res = await fetch(`${url}/v1/${action}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${auth}` },
        body: JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const ok = async (action: string, body: unknown): Promise<Record<string, unknown>> => {
      const res = await call(action, body);
      assert.equal(res.status, 200, `${action}: ${JSON.stringify(res.body)}`);
      return res.body;
    };
    const finalNodes = (id: string) =>
      waitFor(
        `${id} to finish`,
        async () => {
          const body = await ok('DescribeInvocations', { InvokeId: id, IncludeOutput: true });
          const nodes = (
            body.Invocations as {
              Invocation: { InvokeNodes: { InvokeNode: { InvocationStatus: string }[] } }[];
            }
          ).Invocation[0]?.InvokeNodes.InvokeNode;
          return nodes?.every((n) => FINAL_NODE_STATUSES.has(n.InvocationStatus as NodeStatus))
            ? nodes
            : undefined;
        },
        30_000,
      );

    before(async () => {
      const target = await redisTarget();
      admin = clientOf(target);
      // The processes log in to Redis with a password, as a production agent would (on a
      // cluster, ACL users are per server: the user is set on each).
      await onEachServer(admin, (r) =>
        r.call('ACL', 'SETUSER', user, 'on', `>${password}`, '~*', '&*', '+@all'),
      );
      const login: Record<string, string> =
        target.kind === 'url'
          ? { REDIS_URL: `redis://${user}:${password}@${new URL(target.url).host}` }
          : { ...targetEnv(target), REDIS_USERNAME: user, REDIS_PASSWORD: password };
      const prefix = freshPrefix();
      const env = {
        ...login,
        FLEETCMD_PREFIX: prefix,
        FLEETCMD_HEARTBEAT_SECONDS: '1',
        FLEETCMD_DELIVERY_TIMEOUT_SECONDS: '5',
        LOG_LEVEL: level,
      };
      server = start(['server'], {
        ...env,
        FLEETCMD_API_TOKEN: token,
        PORT: '0',
        FLEETCMD_HOST: '127.0.0.1',
      });
      // The password user reaches every key: the point here is a password in REDIS_URL, not a
      // node's confined user, so the agent is told shared credentials are fine.
      agent = start(['agent', '--node-id', 'lg1'], {
        ...env,
        FLEETCMD_ALLOW_SHARED_CREDENTIALS: 'true',
        FLEETCMD_SECRET_X: agentSecret,
      });
      for (const [name, p, line] of [
        ['server', server, '"server started"'],
        ['agent', agent, '"agent started"'],
      ] as const) {
        await waitFor(
          `the ${name} to start`,
          async () => {
            if (p.child.exitCode !== null) throw new Error(`${name} exited: ${p.log()}`);
            return p.log().includes(line);
          },
          60_000,
          100,
        );
      }
      url = await waitFor('the server URL', async () => startedUrl(server?.log() ?? ''), 60_000);
      await waitFor(
        'the node to be listed',
        async () => {
          const body = await ok('DescribeNodes', {});
          return (body.Nodes as { Node: unknown[] }).Node.length === 1;
        },
        30_000,
      );
      dir = await mkdtemp(join(tmpdir(), 'fleetcmd-logs-'));
    });
    after(async () => {
      await stop(agent);
      await stop(server);
      if (admin) {
        await onEachServer(admin, (r) => r.call('ACL', 'DELUSER', user)).catch(() => undefined);
      }
      admin?.disconnect();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    void it('never logs command content, output, parameters, file content or secrets', async () => {
      // The output marker is built by the shell, so it is in the output but not the content.
      const half = outputMark.length / 2;
      const [a, b] = [outputMark.slice(0, half), outputMark.slice(half)];
      const script = `# ${contentMark}\nA=${a}; B=${b}; echo "$A$B"; echo "$A$B" >&2; echo {{p}}`;
      const runs = [
        (await ok('RunCommand', {
          NodeIdList: ['lg1'],
          CommandContent: script,
          EnableParameter: true,
          Parameters: { p: paramMark },
        })) as { InvokeId: string },
        // Failing, and Base64-encoded.
        (await ok('RunCommand', {
          NodeIdList: ['lg1'],
          CommandContent: Buffer.from(`${script}\nexit 3`).toString('base64'),
          ContentEncoding: 'Base64',
          EnableParameter: true,
          Parameters: { p: paramMark },
        })) as { InvokeId: string },
        // Timed out.
        (await ok('RunCommand', {
          NodeIdList: ['lg1'],
          CommandContent: `# ${contentMark}\nA=${a}; B=${b}; echo "$A$B"; sleep 30`,
          Timeout: 1,
        })) as { InvokeId: string },
      ];
      const saved = (await ok('CreateCommand', {
        Name: 'logged',
        CommandContent: `# ${savedMark}\necho {{p}}`,
        EnableParameter: true,
      })) as { CommandId: string };
      runs.push(
        (await ok('InvokeCommand', {
          CommandId: saved.CommandId,
          NodeIdList: ['lg1'],
          Parameters: { p: paramMark },
        })) as { InvokeId: string },
      );
      const file = (await ok('SendFile', {
        NodeIdList: ['lg1'],
        Name: 'f.txt',
        TargetDir: dir,
        Content: `${fileMark}\n`,
      })) as { InvokeId: string };
      // Rejected requests: an unknown node, a bad Frequency, a wrong token.
      for (const body of [
        { NodeIdList: ['ghost'], CommandContent: `# ${rejectedMark}` },
        { NodeIdList: ['lg1'], CommandContent: `# ${rejectedMark}`, Frequency: 'every day' },
      ]) {
        assert.equal((await call('RunCommand', body)).status, 400);
      }
      assert.equal((await call('RunCommand', { CommandContent: 'x' }, wrongToken)).status, 401);

      const statuses: string[] = [];
      for (const r of runs) {
        for (const n of await finalNodes(r.InvokeId)) statuses.push(n.InvocationStatus);
      }
      assert.deepEqual(statuses, ['Success', 'Failed', 'Timeout', 'Success']);
      // The runs did print the markers: the API has them.
      const shown = await ok('DescribeInvocations', {
        InvokeId: runs[0]?.InvokeId,
        IncludeOutput: true,
        ContentEncoding: 'PlainText',
      });
      assert.ok(JSON.stringify(shown).includes(outputMark));
      assert.ok(JSON.stringify(shown).includes(paramMark));
      await waitFor(
        'the file to be sent',
        async () => {
          const body = await ok('DescribeSendFileResults', { InvokeId: file.InvokeId });
          const inv = (body.Invocations as { Invocation: { InvocationStatus: string }[] })
            .Invocation[0];
          return inv?.InvocationStatus === 'Success';
        },
        30_000,
      );

      const logs = { server: server?.log() ?? '', agent: agent?.log() ?? '' };
      for (const [who, text] of Object.entries(logs)) {
        assert.ok(text.length > 0, `${who} logged something`);
        // Every line is a pino JSON line: nothing else (a stack trace, a console.log) got out.
        for (const line of text.split('\n').filter(Boolean)) {
          assert.doesNotThrow(() => JSON.parse(line), `${who}: ${line}`);
        }
        const secrets = {
          contentMark,
          outputMark,
          paramMark,
          savedMark,
          fileMark,
          rejectedMark,
          token,
          wrongToken,
          password,
          agentSecret,
          base64Content: Buffer.from(`# ${contentMark}`).toString('base64').slice(0, 16),
        };
        for (const [name, value] of Object.entries(secrets)) {
          assert.ok(!text.includes(value), `${who} logged ${name}: ${text}`);
        }
      }
      // The agent logs each run's end, by id and status only.
      for (const r of runs) assert.ok(logs.agent.includes(r.InvokeId), `${r.InvokeId} logged`);
    });
  });
}
