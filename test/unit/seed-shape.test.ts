import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { describeInvocationsSchema } from '../../src/api/schemas/common.js';
import { renderInvocation, type RenderOptions } from '../../src/api/render.js';
import type { ContentEncoding, Invocation, RunRecord } from '../../src/domain/invocation.js';

// ---------------------------------------------------------------------------------------------
// The contract: the vendor's DescribeInvocations response schema, copied as a pipe table.
// ---------------------------------------------------------------------------------------------

interface SeedField {
  name: string;
  type: string;
}

const SEED_TEXT = readFileSync(
  new URL('../fixtures/describe-invocations-seed.txt', import.meta.url),
  'utf8',
);

/**
 * A field row starts a line with `Identifier | type |`. Descriptions may run over many lines;
 * those continuation lines never start that way, so they are skipped.
 */
const ROW_RE = /^([A-Za-z_][A-Za-z0-9_]*)\s*\|\s*([a-z]+(?:<[a-z]+>)?)\s*\|/;

function parseSeed(text: string): SeedField[] {
  const rows: SeedField[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = ROW_RE.exec(line);
    if (m) rows.push({ name: m[1]!, type: m[2]! });
  }
  return rows;
}

const SEED_ROWS = parseSeed(SEED_TEXT);

function indexOfRow(name: string, type: string, from = 0): number {
  const i = SEED_ROWS.findIndex((r, idx) => idx >= from && r.name === name && r.type === type);
  if (i < 0) throw new Error(`seed has no "${name} | ${type}" row at or after row ${from}`);
  return i;
}

interface SeedLists {
  /** Fields of one `Invocation` object, InvokeNodes included. */
  invocation: readonly SeedField[];
  /** Fields of one `InvokeNode` object. */
  node: readonly SeedField[];
}

let seedLists: SeedLists | undefined;

/**
 * `Invocations | object` > `Invocation | array<object>` > `Invocation | object` (the second
 * `Invocation` row) > fields up to and including `InvokeNodes | object`; then
 * `InvokeNode | array<object>` > `InvokeNode | object` > the per-node fields to the end.
 * Derived on first use so that a malformed fixture fails a test rather than the file load.
 */
function seed(): SeedLists {
  if (seedLists) return seedLists;
  const array = indexOfRow('Invocation', 'array<object>');
  const object = indexOfRow('Invocation', 'object', array + 1);
  const invokeNodes = indexOfRow('InvokeNodes', 'object', object + 1);
  const nodeArray = indexOfRow('InvokeNode', 'array<object>', invokeNodes + 1);
  const nodeObject = indexOfRow('InvokeNode', 'object', nodeArray + 1);
  seedLists = {
    invocation: SEED_ROWS.slice(object + 1, invokeNodes + 1),
    node: SEED_ROWS.slice(nodeObject + 1),
  };
  return seedLists;
}

const names = (fields: readonly SeedField[]): string[] => fields.map((f) => f.name);

const ISO_SECONDS_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

// ---------------------------------------------------------------------------------------------
// Fixtures: one invocation over three nodes — finished, pending (no record), running.
// ---------------------------------------------------------------------------------------------

const CREATED_MS = Date.UTC(2020, 0, 19, 9, 15, 46, 123);
const CREATED_ISO = '2020-01-19T09:15:46Z';
const SCRIPT = 'echo "héllo wörld"\nexit 0\n';
const OUTPUT = 'héllo wörld\n';

function invocation(overrides: Partial<Invocation> = {}): Invocation {
  return {
    invokeId: 't-ind3k9ytvvduoe8',
    commandId: 'c-test0001',
    name: 'CommandTestName',
    description: 'testDescription',
    content: Buffer.from(SCRIPT, 'utf8'),
    nodeIds: ['n-done', 'n-pending', 'n-running'],
    frequency: '',
    repeatMode: 'Once',
    timeoutSeconds: 60,
    username: 'root',
    workingDir: '/home',
    parameters: {},
    enableParameter: false,
    terminationMode: 'ProcessTree',
    launcher: '',
    createdMs: CREATED_MS,
    ...overrides,
  };
}

const FINISHED: RunRecord = {
  status: 'Success',
  createdMs: CREATED_MS,
  updatedMs: Date.UTC(2020, 0, 19, 9, 15, 50, 999),
  startedMs: Date.UTC(2020, 0, 19, 9, 15, 47, 1),
  finishedMs: Date.UTC(2020, 0, 19, 9, 15, 50, 500),
  stoppedMs: Date.UTC(2020, 0, 19, 9, 15, 50, 600),
  exitCode: 0,
  errorCode: '',
  errorInfo: '',
  output: Buffer.from(OUTPUT, 'utf8'),
  dropped: 0,
  repeats: 1,
  timed: false,
  skipped: 0,
  fire: '',
  fireMs: undefined,
};

const RUNNING: RunRecord = {
  status: 'Running',
  createdMs: CREATED_MS,
  updatedMs: Date.UTC(2020, 0, 19, 9, 15, 48, 0),
  startedMs: Date.UTC(2020, 0, 19, 9, 15, 48, 0),
  finishedMs: undefined,
  stoppedMs: undefined,
  exitCode: undefined,
  errorCode: '',
  errorInfo: '',
  output: Buffer.from('partial', 'utf8'),
  dropped: 0,
  repeats: 1,
  timed: false,
  skipped: 0,
  fire: '',
  fireMs: undefined,
};

/** The pending node deliberately has no entry: a node not yet delivered has no run record. */
const RUNS: ReadonlyMap<string, RunRecord> = new Map([
  ['n-done', FINISHED],
  ['n-running', RUNNING],
]);

const ENCODINGS: readonly ContentEncoding[] = ['Base64', 'PlainText'];
const ALL_OPTIONS: readonly RenderOptions[] = ENCODINGS.flatMap((contentEncoding) =>
  [true, false].map((includeOutput) => ({ includeOutput, contentEncoding })),
);

function render(opts: RenderOptions, inv: Invocation = invocation()): Record<string, unknown> {
  return renderInvocation(inv, RUNS, opts);
}

function nodesOf(rendered: Record<string, unknown>): Record<string, unknown>[] {
  const wrapper = rendered.InvokeNodes as { InvokeNode: unknown };
  assert.ok(Array.isArray(wrapper.InvokeNode), 'InvokeNodes.InvokeNode is an array');
  return wrapper.InvokeNode as Record<string, unknown>[];
}

function nodeById(rendered: Record<string, unknown>, id: string): Record<string, unknown> {
  const n = nodesOf(rendered).find((x) => x.NodeId === id);
  assert.ok(n, `no InvokeNode with NodeId ${id}`);
  return n;
}

const label = (o: RenderOptions): string =>
  `includeOutput=${String(o.includeOutput)} ${o.contentEncoding}`;

/** Checks one rendered object's values against the seed's declared types. */
function assertSeedTypes(
  obj: Record<string, unknown>,
  fields: readonly SeedField[],
  where: string,
) {
  for (const f of fields) {
    if (!(f.name in obj)) continue; // presence is asserted separately
    const v = obj[f.name];
    if (f.name === 'ErrorCode') {
      // The seed says `boolean`, a known slip: ErrorCode is a code such as "ClientNotRunning".
      assert.equal(typeof v, 'string', `${where}.ErrorCode is a string`);
      continue;
    }
    switch (f.type) {
      case 'string':
        assert.equal(typeof v, 'string', `${where}.${f.name} is a string`);
        break;
      case 'integer':
        assert.ok(Number.isInteger(v), `${where}.${f.name} is an integer, got ${String(v)}`);
        break;
      case 'object':
        assert.ok(typeof v === 'object' && v !== null && !Array.isArray(v), `${where}.${f.name}`);
        break;
      default:
        assert.fail(`${where}.${f.name}: unexpected seed type ${f.type}`);
    }
  }
}

function assertTimes(obj: Record<string, unknown>, where: string) {
  for (const [k, v] of Object.entries(obj)) {
    if (!k.endsWith('Time')) continue;
    assert.equal(typeof v, 'string', `${where}.${k} is a string`);
    const s = v as string;
    if (s === '') continue;
    assert.match(s, ISO_SECONDS_RE, `${where}.${k} is ISO-8601 to the second with Z`);
    // Round-trips as UTC: no offset was applied when formatting.
    assert.equal(new Date(s).toISOString().replace('.000Z', 'Z'), s, `${where}.${k} is UTC`);
  }
}

// ---------------------------------------------------------------------------------------------

void describe('DescribeInvocations seed fixture', () => {
  void it('parses into the expected field rows, skipping description continuation lines', () => {
    assert.deepEqual(names(seed().invocation), [
      'CreationTime',
      'Frequency',
      'InvocationStatus',
      'RepeatMode',
      'InvokeStatus',
      'Parameters',
      'CommandContent',
      'CommandName',
      'CommandDescription',
      'InvokeId',
      'Username',
      'WorkingDir',
      'Timeout',
      'InvokeNodes',
    ]);
    assert.deepEqual(names(seed().node), [
      'CreationTime',
      'UpdateTime',
      'FinishTime',
      'InvocationStatus',
      'Repeats',
      'NodeId',
      'Output',
      'Dropped',
      'StopTime',
      'ExitCode',
      'StartTime',
      'ErrorInfo',
      'Timed',
      'ErrorCode',
      'NodeInvokeStatus',
    ]);
    for (const f of [...seed().invocation, ...seed().node]) {
      assert.ok(
        ['string', 'integer', 'object', 'boolean'].includes(f.type),
        `${f.name} has a scalar/object seed type, got ${f.type}`,
      );
    }
    assert.equal(seed().node.find((f) => f.name === 'ErrorCode')?.type, 'boolean');
  });
});

void describe('renderInvocation matches the seed shape', () => {
  void it('the Invocation object has exactly the seed fields, in seed order', () => {
    for (const opts of ALL_OPTIONS) {
      const rendered = render(opts);
      const keys = Object.keys(rendered);
      assert.deepEqual(new Set(keys), new Set(names(seed().invocation)), label(opts));
      assert.deepEqual(keys, names(seed().invocation), `${label(opts)}: order`);
    }
  });

  void it('each InvokeNode has the seed node fields, Output and ExitCode only when they apply', () => {
    for (const opts of ALL_OPTIONS) {
      const rendered = render(opts);
      const nodes = nodesOf(rendered);
      assert.deepEqual(
        nodes.map((n) => n.NodeId),
        ['n-done', 'n-pending', 'n-running'],
        'one InvokeNode per target, in nodeIds order',
      );
      for (const node of nodes) {
        const run = RUNS.get(node.NodeId as string);
        // A run that has not ended has no exit code: ExitCode is left out rather than made up
        // (a pending node has no record at all, a running one has no exitCode yet).
        const expected = names(seed().node).filter(
          (name) =>
            (name !== 'Output' || opts.includeOutput) &&
            (name !== 'ExitCode' || run?.exitCode !== undefined),
        );
        const keys = Object.keys(node);
        const where = `${label(opts)} ${String(node.NodeId)}`;
        assert.deepEqual(new Set(keys), new Set(expected), where);
        assert.deepEqual(keys, expected, `${where}: order`);
      }
      assert.ok('ExitCode' in nodeById(rendered, 'n-done'));
      assert.ok(!('ExitCode' in nodeById(rendered, 'n-running')));
      assert.ok(!('ExitCode' in nodeById(rendered, 'n-pending')));
    }
  });

  void it('values have the seed types (ErrorCode a string; Timed the text true/false)', () => {
    for (const opts of ALL_OPTIONS) {
      const rendered = render(opts);
      assertSeedTypes(rendered, seed().invocation, label(opts));
      for (const node of nodesOf(rendered)) {
        const where = `${label(opts)} ${String(node.NodeId)}`;
        assertSeedTypes(node, seed().node, where);
        assert.ok(node.Timed === 'true' || node.Timed === 'false', `${where}.Timed`);
        assert.equal(typeof node.ErrorCode, 'string', `${where}.ErrorCode`);
      }
    }
  });

  void it('Timed is each node\'s: "true" while its schedule may fire, else "false"', () => {
    const opts: RenderOptions = { includeOutput: false, contentEncoding: 'Base64' };
    for (const node of nodesOf(render(opts))) assert.equal(node.Timed, 'false');
    const inv = invocation({ repeatMode: 'Period', frequency: '0 */20 * * * *' });
    const runs = new Map<string, RunRecord>([
      ['n-done', { ...FINISHED, status: 'Scheduled', timed: true, fire: 'f1' }],
      ['n-running', { ...RUNNING, timed: false, fire: 'f2' }],
    ]);
    const period = renderInvocation(inv, runs, opts);
    assert.equal(nodeById(period, 'n-done').Timed, 'true');
    assert.equal(nodeById(period, 'n-running').Timed, 'false', 'its last fire is under way');
    assert.equal(nodeById(period, 'n-pending').Timed, 'true', 'no record yet: not dispatched');
    assert.equal(period.InvocationStatus, 'Pending');
    assert.equal(period.InvokeStatus, 'Running');
  });

  void it('times are UTC ISO-8601 to the second, and "" for what has not happened', () => {
    for (const opts of ALL_OPTIONS) {
      const rendered = render(opts);
      assertTimes(rendered, label(opts));
      for (const node of nodesOf(rendered))
        assertTimes(node, `${label(opts)} ${String(node.NodeId)}`);

      assert.equal(rendered.CreationTime, CREATED_ISO);

      const done = nodeById(rendered, 'n-done');
      assert.equal(done.CreationTime, CREATED_ISO);
      assert.equal(done.StartTime, '2020-01-19T09:15:47Z');
      assert.equal(done.FinishTime, '2020-01-19T09:15:50Z');
      assert.equal(done.UpdateTime, '2020-01-19T09:15:50Z');
      assert.equal(done.StopTime, '2020-01-19T09:15:50Z');

      const pending = nodeById(rendered, 'n-pending');
      assert.equal(pending.StartTime, '');
      assert.equal(pending.FinishTime, '');
      assert.equal(pending.StopTime, '');

      const running = nodeById(rendered, 'n-running');
      assert.equal(running.StartTime, '2020-01-19T09:15:48Z');
      assert.equal(running.FinishTime, '');
      assert.equal(running.StopTime, '');
    }
  });

  void it('CommandContent and Output are Base64 by default, raw text with PlainText', () => {
    // The API's default ContentEncoding for DescribeInvocations is Base64.
    const defaults = describeInvocationsSchema.parse({});
    assert.equal(defaults.ContentEncoding, 'Base64');

    const b64 = render({ includeOutput: true, contentEncoding: defaults.ContentEncoding });
    assert.equal(typeof b64.CommandContent, 'string');
    assert.deepEqual(
      Buffer.from(b64.CommandContent as string, 'base64'),
      Buffer.from(SCRIPT, 'utf8'),
    );
    assert.equal(b64.CommandContent, Buffer.from(SCRIPT, 'utf8').toString('base64'));
    const doneB64 = nodeById(b64, 'n-done');
    assert.deepEqual(Buffer.from(doneB64.Output as string, 'base64'), Buffer.from(OUTPUT, 'utf8'));
    assert.equal(doneB64.Output, Buffer.from(OUTPUT, 'utf8').toString('base64'));
    assert.equal(nodeById(b64, 'n-running').Output, Buffer.from('partial').toString('base64'));
    assert.equal(nodeById(b64, 'n-pending').Output, '');

    const plain = render({ includeOutput: true, contentEncoding: 'PlainText' });
    assert.equal(plain.CommandContent, SCRIPT);
    assert.equal(nodeById(plain, 'n-done').Output, OUTPUT);
    assert.equal(nodeById(plain, 'n-running').Output, 'partial');
    assert.equal(nodeById(plain, 'n-pending').Output, '');
  });

  void it('Parameters is JSON text, "{}" when empty', () => {
    const opts: RenderOptions = { includeOutput: false, contentEncoding: 'Base64' };
    assert.equal(render(opts).Parameters, '{}');
    const params = { name: 'world', 'dir name': '/tmp/a b', quote: '"x"' };
    const withParams = render(opts, invocation({ parameters: params, enableParameter: true }));
    assert.equal(typeof withParams.Parameters, 'string');
    assert.deepEqual(JSON.parse(withParams.Parameters as string), params);
  });

  void it('a pending node (no record) reads Pending / Running with nothing counted', () => {
    const opts: RenderOptions = { includeOutput: true, contentEncoding: 'PlainText' };
    const pending = nodeById(render(opts), 'n-pending');
    assert.equal(pending.InvocationStatus, 'Pending');
    assert.equal(pending.NodeInvokeStatus, 'Running');
    assert.equal(pending.Repeats, 0);
    assert.equal(pending.Dropped, 0);
    assert.equal(pending.ErrorCode, '');
    assert.equal(pending.ErrorInfo, '');

    const done = nodeById(render(opts), 'n-done');
    assert.equal(done.InvocationStatus, 'Success');
    assert.equal(done.NodeInvokeStatus, 'Finished');
    assert.equal(done.ExitCode, 0);
    assert.equal(done.Repeats, 1);

    const running = nodeById(render(opts), 'n-running');
    assert.equal(running.InvocationStatus, 'Running');
    assert.equal(running.NodeInvokeStatus, 'Running');
  });

  void it('aggregate of {Success, Pending} is InvocationStatus Pending, InvokeStatus Running', () => {
    const opts: RenderOptions = { includeOutput: false, contentEncoding: 'Base64' };
    const two = render(opts, invocation({ nodeIds: ['n-done', 'n-pending'] }));
    assert.equal(two.InvocationStatus, 'Pending');
    assert.equal(two.InvokeStatus, 'Running');

    const three = render(opts);
    assert.equal(three.InvocationStatus, 'Pending');
    assert.equal(three.InvokeStatus, 'Running');

    const doneOnly = render(opts, invocation({ nodeIds: ['n-done'] }));
    assert.equal(doneOnly.InvocationStatus, 'Success');
    assert.equal(doneOnly.InvokeStatus, 'Finished');
  });
});
