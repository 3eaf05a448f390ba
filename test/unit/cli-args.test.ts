import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  parameters,
  parseCommandCreate,
  parseCommandDelete,
  parseCommandInvoke,
  parseCommandList,
  parseCommandModify,
} from '../../src/cli/commands/command.js';
import { parseDescribe } from '../../src/cli/commands/describe.js';
import { parseLogs } from '../../src/cli/commands/logs.js';
import { parseNodes } from '../../src/cli/commands/nodes.js';
import { parseRun } from '../../src/cli/commands/run.js';
import { parseSendFileResults } from '../../src/cli/commands/send-file-results.js';
import { parseSendFile } from '../../src/cli/commands/send-file.js';
import { parseStop } from '../../src/cli/commands/stop.js';
import type { Parsed } from '../../src/cli/client-args.js';
import { UsageError } from '../../src/cli/usage-error.js';
import { parseTag } from '../../src/cli/commands/tag.js';
import { parseUntag } from '../../src/cli/commands/untag.js';
import { MAX_FILE_BASE64_BYTES } from '../../src/domain/send-file.js';

const ENV = { FLEETCMD_URL: 'http://api:1', FLEETCMD_API_TOKEN: 'tok' };

/** The parsed form, failing the test when it is a help request. */
function parsed<T>(p: Parsed<T>): Exclude<Parsed<T>, { help: string }> {
  if ('help' in p) assert.fail('unexpected help');
  return p as Exclude<Parsed<T>, { help: string }>;
}

const PARSERS = {
  run: parseRun,
  describe: parseDescribe,
  logs: parseLogs,
  stop: parseStop,
  nodes: parseNodes,
  'command create': parseCommandCreate,
  'command list': parseCommandList,
  'command modify': parseCommandModify,
  'command delete': parseCommandDelete,
  'command invoke': parseCommandInvoke,
  'send-file': parseSendFile,
  'send-file-results': parseSendFileResults,
  tag: parseTag,
  untag: parseUntag,
};

void describe('client subcommand arguments', () => {
  for (const [name, parse] of Object.entries(PARSERS)) {
    void it(`${name} --help shows its usage and an example, whatever else is missing`, () => {
      const p = parse(['--help'], ENV);
      assert.ok('help' in p);
      assert.match(p.help, new RegExp(`^Usage: fleetcmd ${name}`));
      assert.match(p.help, new RegExp(`Example: fleetcmd ${name} `));
      assert.match(p.help, /--json/);
    });
  }

  void it('take the API address and token from flags, else from the environment', () => {
    assert.deepEqual(parsed(parseNodes([], ENV)).client, {
      url: 'http://api:1',
      token: 'tok',
      json: false,
      output: { kind: 'table' },
      raw: false,
    });
    assert.deepEqual(
      parsed(
        parseNodes(['--url', 'http://x', '--token', 't', '--json', '--raw'], {
          XDG_CONFIG_HOME: '/nonexistent',
        }),
      ).client,
      {
        url: 'http://x',
        token: 't',
        json: true,
        output: { kind: 'json' },
        raw: true,
      },
    );
    assert.equal(
      parsed(parseNodes([], { XDG_CONFIG_HOME: '/nonexistent' })).client.url,
      'http://127.0.0.1:8080',
    );
  });

  void it('run builds RunCommand with only the fields given', () => {
    const p = parsed(
      parseRun(
        ['--nodes', 'n1, n2', '--timeout', '30', '--user', 'app', '--wait', '--', 'echo', 'hi'],
        ENV,
      ),
    );
    assert.equal(p.wait, true);
    assert.deepEqual(p.request, {
      NodeIdList: ['n1', 'n2'],
      CommandContent: 'echo hi',
      Timeout: 30,
      Username: 'app',
    });
  });

  void it('run refuses what cannot work before calling the API', () => {
    assert.throws(() => parseRun(['--', 'true'], ENV), /--nodes .* or --target .* is required/);
    assert.throws(() => parseRun(['--nodes', 'n1'], ENV), /command is missing/);
    assert.throws(() => parseRun(['--nodes', 'n1', '--timeout', '1.5', 'x'], ENV), /--timeout/);
    assert.throws(
      () => parseRun(['--nodes', 'n1', '--wait', '--frequency', 'rate(5m)', 'x'], ENV),
      /--wait works with one-off runs only/,
    );
    assert.throws(() => parseRun(['--nodes', 'n1', '--bogus', 'x'], ENV), /bogus/);
  });

  void it('describe: defaults to 20 invocations, or 1000 node rows with an id', () => {
    assert.equal(parsed(parseDescribe([], ENV)).max, 20);
    const p = parsed(parseDescribe(['t-1', '--node', 'n1', '--status', 'Failed'], ENV));
    assert.deepEqual([p.invokeId, p.node, p.status, p.max], ['t-1', 'n1', 'Failed', 1000]);
    assert.throws(() => parseDescribe(['--max', '0'], ENV), /--max/);
  });

  void it('run, command invoke and send-file take --target tags instead of --nodes', () => {
    const run = parsed(parseRun(['--target', 'gpu=h100, rack=r12,ssd', '--', 'true'], ENV));
    assert.deepEqual(run.request.ResourceTag, [
      { Key: 'gpu', Value: 'h100' },
      { Key: 'rack', Value: 'r12' },
      { Key: 'ssd' },
    ]);
    assert.equal(run.request.NodeIdList, undefined);
    assert.throws(
      () => parseRun(['--nodes', 'n1', '--target', 'a=b', '--', 'true'], ENV),
      /--nodes and --target: give one of them, not both/,
    );
    const inv = parsed(parseCommandInvoke(['c-1', '--target', 'rack=r1'], ENV));
    assert.deepEqual(inv.request.ResourceTag, [{ Key: 'rack', Value: 'r1' }]);
    const file = parsed(parseSendFile(['--target', 'rack=r1', '--target-dir', '/t', 'f'], ENV));
    assert.deepEqual(file.request(Buffer.from('x')).ResourceTag, [{ Key: 'rack', Value: 'r1' }]);
    const dry = parsed(parseRun(['--nodes', 'n1', '--repeat-mode', 'DryRun', '--', 'true'], ENV));
    assert.equal(dry.request.RepeatMode, 'DryRun');
  });

  void it('nodes --tag filters; tag and untag build TagResources and UntagResources', () => {
    assert.deepEqual(parsed(parseNodes(['--tag', 'gpu=h100', '--tag', 'rack'], ENV)).tags, [
      { Key: 'gpu', Value: 'h100' },
      { Key: 'rack' },
    ]);
    assert.equal(parsed(parseNodes([], ENV)).tags, undefined);
    assert.deepEqual(parsed(parseTag(['n1', 'n2', 'rack=r12', 'empty='], ENV)).request, {
      ResourceType: 'node',
      ResourceId: ['n1', 'n2'],
      Tag: [
        { Key: 'rack', Value: 'r12' },
        { Key: 'empty', Value: '' },
      ],
    });
    assert.throws(() => parseTag(['n1'], ENV), /key=value/);
    assert.throws(() => parseTag(['a=b'], ENV), /at least one node/);
    assert.deepEqual(parsed(parseUntag(['n1', 'rack'], ENV)).request, {
      ResourceType: 'node',
      ResourceId: ['n1'],
      TagKey: ['rack'],
    });
    assert.deepEqual(parsed(parseUntag(['--nodes', 'n1,n2', 'rack', 'gpu'], ENV)).request, {
      ResourceType: 'node',
      ResourceId: ['n1', 'n2'],
      TagKey: ['rack', 'gpu'],
    });
    assert.deepEqual(parsed(parseUntag(['n1', 'n2', '--all'], ENV)).request, {
      ResourceType: 'node',
      ResourceId: ['n1', 'n2'],
      All: true,
    });
    assert.throws(() => parseUntag(['n1'], ENV), /name a key, or --all/);
  });

  void it('logs needs an InvokeId; stop takes an optional node list', () => {
    assert.throws(() => parseLogs([], ENV), UsageError);
    const l = parsed(parseLogs(['t-1', '-f', '--node', 'n2'], ENV));
    assert.deepEqual([l.invokeId, l.follow, l.node], ['t-1', true, 'n2']);
    assert.deepEqual(parsed(parseStop(['t-1'], ENV)).request, { InvokeId: 't-1' });
    assert.deepEqual(parsed(parseStop(['t-1', '--nodes', 'n1'], ENV)).request, {
      InvokeId: 't-1',
      NodeIdList: ['n1'],
    });
  });

  void it('command create builds CreateCommand', () => {
    const p = parsed(
      parseCommandCreate(
        ['--name', 'disk', '--timeout', '90', '--enable-parameter', '--', 'df -h {{path}}'],
        ENV,
      ),
    );
    assert.deepEqual(p.request, {
      Name: 'disk',
      CommandContent: 'df -h {{path}}',
      ContentEncoding: 'PlainText',
      EnableParameter: true,
      Timeout: 90,
    });
    assert.throws(() => parseCommandCreate(['--', 'true'], ENV), /--name is required/);
    assert.throws(() => parseCommandCreate(['--name', 'x'], ENV), /content is missing/);
  });

  void it('command list, modify and delete build their requests', () => {
    assert.deepEqual(parsed(parseCommandList(['--name', 'disk'], ENV)).request, {
      ContentEncoding: 'PlainText',
      Name: 'disk',
    });
    assert.deepEqual(parsed(parseCommandModify(['c-1', '--description', 'd'], ENV)).request, {
      CommandId: 'c-1',
      Description: 'd',
    });
    assert.throws(() => parseCommandModify(['c-1'], ENV), /nothing to change/);
    assert.deepEqual(parsed(parseCommandDelete(['c-1'], ENV)).request, { CommandId: 'c-1' });
    assert.throws(() => parseCommandDelete([], ENV), /CommandId is required/);
  });

  void it('command invoke builds InvokeCommand with parameters', () => {
    const p = parsed(
      parseCommandInvoke(
        ['c-1', '--nodes', 'n1', '--param', 'path=/', '--param', 'q=a=b', '--wait'],
        ENV,
      ),
    );
    assert.equal(p.wait, true);
    assert.deepEqual(p.request, {
      CommandId: 'c-1',
      NodeIdList: ['n1'],
      Parameters: { path: '/', q: 'a=b' },
    });
    assert.throws(() => parseCommandInvoke(['--nodes', 'n1'], ENV), /CommandId/);
    assert.throws(() => parameters(['novalue']), /expected name=value/);
    assert.throws(() => parameters(['=x']), /expected name=value/);
  });

  void it('send-file builds SendFile from the local file, Base64, named after it', () => {
    const p = parsed(
      parseSendFile(
        ['--nodes', 'n1,n2', '--target-dir', '/etc/app', '--owner', 'app', '/tmp/x/app.conf'],
        ENV,
      ),
    );
    assert.equal(p.path, '/tmp/x/app.conf');
    assert.deepEqual(p.request(Buffer.from('k=v\n')), {
      NodeIdList: ['n1', 'n2'],
      Name: 'app.conf',
      TargetDir: '/etc/app',
      ContentType: 'Base64',
      FileMode: '0644',
      Overwrite: false,
      FileOwner: 'app',
      Content: Buffer.from('k=v\n').toString('base64'),
    });
    const q = parsed(
      parseSendFile(
        ['--nodes', 'n1', '--target-dir', '/d', '--name', 'b', '--mode', '600', '--overwrite', 'a'],
        ENV,
      ),
    );
    const body = q.request(Buffer.alloc(0));
    assert.deepEqual([body.Name, body.FileMode, body.Overwrite], ['b', '0600', true]);
  });

  void it('send-file refuses a bad mode, a missing target and a file over the limit', () => {
    const base = ['--nodes', 'n1', '--target-dir', '/d'];
    assert.throws(() => parseSendFile([...base, '--mode', '0x644', 'f'], ENV), /--mode/);
    assert.throws(() => parseSendFile(['--nodes', 'n1', 'f'], ENV), /--target-dir is required/);
    assert.throws(() => parseSendFile(base, ENV), /one local file/);
    const p = parsed(parseSendFile([...base, 'f'], ENV));
    const fits = Buffer.alloc((MAX_FILE_BASE64_BYTES / 4) * 3);
    assert.equal((p.request(fits).Content as string).length, MAX_FILE_BASE64_BYTES);
    assert.throws(() => p.request(Buffer.alloc(fits.length + 1)), /at most 32768/);
  });

  void it('send-file-results filters', () => {
    const p = parsed(parseSendFileResults(['--node', 'n1', '--status', 'Failed'], ENV));
    assert.deepEqual(p.request, { NodeId: 'n1', InvocationStatus: 'Failed' });
    assert.equal(p.max, 20);
    assert.deepEqual(parsed(parseSendFileResults(['f-1'], ENV)).request, { InvokeId: 'f-1' });
  });
});
