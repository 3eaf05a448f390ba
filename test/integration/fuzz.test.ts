import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { z } from 'zod';
import { ACTIONS } from '../../src/api/actions/registry.js';
import { keysUnder } from '../helpers/redis.js';
import { ADMIN_ACTIONS } from '../../src/api/plugins/auth.js';
import {
  makeStack,
  relayCaughtUp,
  waitFinal,
  type ApiResponse,
  type Stack,
} from '../helpers/stack.js';

/**
 * fast-check fuzzing of every action's body (and of Frequency texts through RunCommand) against
 * a real server and Redis. Failures print fast-check's seed and path: rerun with them to
 * reproduce (`fc.assert(..., { seed, path })`).
 *
 * Part 1 runs an API-only server (no scheduler) over a node whose agent registered and then
 * died, so nothing but the request under test writes to Redis: every rejected request, and
 * every read-only one, must leave each key's value byte for byte (DUMP) as it was. Part 2 runs
 * the same bodies against a whole stack with a live agent, so accepted requests really run.
 */

/**
 * The actions fuzzed with the stack's token (role run). The admin-only ones (activations,
 * DeregisterNodes) answer it 403 whatever the body: activations.test.ts and
 * enroll-agents.test.ts drive them with an admin token.
 */
const ACTION_NAMES = Object.keys(ACTIONS)
  .filter((a) => !ADMIN_ACTIONS.has(a))
  .sort();
/** The audit trail's stream, after the prefix. */
const AUDIT_KEY = ':{global}:audit';
const REQUEST_ID_RE = /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/i;
const FORBIDDEN_KEYS = ['__proto__', 'constructor', 'prototype'] as const;
/** The API's body limit (docs/api.md: PayloadTooLarge), in bytes. */
const BODY_LIMIT = 256 * 1024;

function fieldsOf(action: string): string[] {
  const schema = ACTIONS[action]?.request;
  assert.ok(schema instanceof z.ZodObject, `${action}'s schema is an object`);
  return Object.keys(schema.shape);
}

/** Stands for an id of that kind that exists, picked when the request is sent. */
const KNOWN = { invoke: '@known-invoke', file: '@known-file', command: '@known-command' };
/** `<marker>#<n>`: the n-th (modulo) id of that kind that exists when the request is sent. */
const knownId = (kind: keyof typeof KNOWN) => fc.nat(1000).map((n) => `${KNOWN[kind]}#${n}`);

const json = fc.jsonValue({ maxDepth: 3 });
const str = fc.string({ maxLength: 40 });
const unicode = fc.string({ unit: 'grapheme', maxLength: 40 });
const mostly = <T>(plausible: fc.Arbitrary<T>) =>
  fc.oneof({ arbitrary: plausible, weight: 5 }, { arbitrary: json, weight: 1 });
const flag = mostly(fc.constantFrom(true, false, 'true', 'false', 'yes', 1, 0, null));
const intish = mostly(
  fc.oneof(
    fc.integer({ min: 1, max: 50 }),
    fc.integer({ min: -3, max: 100_000 }),
    fc.double(),
    fc.constantFrom('10', 1e21, -0, 2 ** 53),
  ),
);
const b64url = (text: string) => Buffer.from(text).toString('base64url');
const nextToken = mostly(
  fc.oneof(
    str,
    json.map((v) => b64url(JSON.stringify(v))),
    fc
      .record({ createdMs: fc.double(), invokeId: str, node: fc.integer(), f: str })
      .map((c) => b64url(JSON.stringify(c))),
    fc.record({ after: str }).map((c) => b64url(JSON.stringify(c))),
    fc.constantFrom('garbage', 'x'.repeat(513), b64url('{"__proto__":{"polluted":1}}')),
  ),
);
const statusText = mostly(
  fc.oneof(
    fc.constantFrom('Running', 'Success', 'Failed', 'Finished', 'PartialFailed', 'Stopped'),
    str,
  ),
);

/**
 * Frequency texts: valid ones of every form, near misses, cron-ish token soup and any text.
 * Every valid one is far in the future or slow, and its content is harmless.
 */
const frequencyText = fc.oneof(
  fc.constantFrom(
    '',
    '0 0 0 1 1 * 2090',
    '0 */20 * * * *',
    '0 0 12 ? * MON-FRI Asia/Shanghai',
    '0 0 0 L * ? * GMT+8:00',
    'rate(5m)',
    'rate(1d)',
    'at(2090-01-01 00:00:00)',
    'at(2090-02-30 00:00:00)',
    '*/5 * * * * *',
    'rate(5s)',
    'rate(99999999999999999999d)',
    '0 0 0 * * * 2020',
    '0 0 0 15W * *',
    '0 0 0 * * * Mars/Olympus',
  ),
  fc
    .array(
      fc.oneof(
        fc.constantFrom('*', '?', 'L', 'W', '#', '/', '-', ',', 'MON', 'JAN', '5L', '1#2', 'UTC'),
        fc.constantFrom('GMT+8:00', 'Europe/Berlin', 'rate(', 'at(', ')', '2090', '*/2', '0'),
        fc.integer({ min: -5, max: 3000 }).map(String),
        fc.string({ maxLength: 6 }),
      ),
      { maxLength: 9 },
    )
    .map((t) => t.join(' ')),
  unicode,
  fc.string({ maxLength: 300 }),
);

/**
 * Plausible (and often wrong) values per request field name, shared by the actions that have
 * the field. Only harmless values can be valid: contents are `true`-like, directories are the
 * test's own, launchers run the script with sh.
 */
function fieldValues(dir: string): Record<string, fc.Arbitrary<unknown>> {
  const nodeId = mostly(fc.constantFrom('n1', 'n1', 'ghost', '', 'a b', 'x:y', '{n1}'));
  const nodeIdList = mostly(
    fc.oneof(
      fc.constantFrom(['n1'], ['n1'], ['n1', 'n1'], ['ghost'], [], ['n1', 'ghost'], 'n1'),
      fc.array(nodeId, { maxLength: 3 }),
    ),
  );
  const encoding = mostly(fc.constantFrom('PlainText', 'Base64', 'Hex', 'base64'));
  // A directory that cannot leave the test's own: relative, or under `dir`.
  const safeDir = mostly(
    fc.oneof(
      fc.constantFrom(dir, join(dir, 'sub'), join(dir, 'a', '..', 'b'), '', 'rel', '/'),
      str.map((s) => s.replace(/^\/+/, '')),
    ),
  );
  const user = mostly(fc.constantFrom('', 'nobody', 'root', 'no_such_user_x9', 'bad user'));
  const parameters = mostly(
    fc.dictionary(
      fc.oneof(str, fc.constantFrom('p', 'ACS::NodeId', 'a b')),
      fc.oneof(str, fc.integer(), fc.boolean(), json),
      { maxKeys: 12 },
    ),
  );
  const invokeId = mostly(
    fc.oneof(
      knownId('invoke'),
      knownId('file'),
      fc.constantFrom('t-doesnotexist00000', '', KNOWN.invoke),
      str,
    ),
  );
  return {
    NodeIdList: nodeIdList,
    NodeId: nodeId,
    CommandContent: mostly(
      fc.oneof(
        fc.constantFrom('true', ': fuzz {{p}}', 'dHJ1ZQ==', '', '@@@', `: ${'a'.repeat(18_433)}`),
        str.map((s) => `# ${s.replace(/[\r\n]/g, ' ')}`),
      ),
    ),
    ContentEncoding: encoding,
    ContentType: encoding,
    Content: mostly(fc.oneof(fc.constantFrom('hello\n', 'aGVsbG8K', '', '@@@'), str)),
    Name: mostly(fc.oneof(fc.constantFrom('f.txt', '', '.', '..', 'a/b', 'x'.repeat(256)), str)),
    Description: mostly(str),
    CommandName: mostly(str),
    Type: mostly(fc.constantFrom('RunShellScript', 'RunBatScript')),
    Frequency: mostly(frequencyText),
    RepeatMode: mostly(
      fc.constantFrom('Once', 'Once', 'Period', 'NextRebootOnly', 'EveryReboot', 'once'),
    ),
    Timeout: intish,
    MaxResults: intish,
    Username: user,
    FileOwner: user,
    FileGroup: mostly(fc.constantFrom('', 'nogroup', 'root', 'no_such_group_x9', 'bad group')),
    WorkingDir: safeDir,
    TargetDir: safeDir,
    FileMode: mostly(fc.constantFrom('0644', '0755', '4755', '644', '999', 'rwx', '')),
    Overwrite: flag,
    EnableParameter: flag,
    IncludeOutput: flag,
    IncludeHistory: flag,
    Online: flag,
    Parameters: parameters,
    TerminationMode: mostly(fc.constantFrom('ProcessTree', 'Process', 'Kill')),
    Launcher: mostly(fc.constantFrom('', '/bin/sh', 'sh', 'x'.repeat(1025))),
    ClientToken: mostly(fc.string({ maxLength: 80 })),
    InvokeId: invokeId,
    CommandId: mostly(
      fc.oneof(knownId('command'), fc.constantFrom('c-doesnotexist000000', ''), str),
    ),
    InvokeStatus: statusText,
    InvokeRecordStatus: statusText,
    InvocationStatus: statusText,
    NextToken: nextToken,
    ResourceTag: mostly(
      fc.constantFrom(
        [{ Key: 'gpu' }],
        [{ Key: 'gpu', Value: 'h100' }],
        [],
        [{ Key: '' }],
        [{ Key: 'k'.repeat(129) }],
        'gpu',
      ),
    ),
    ResourceType: mostly(fc.constantFrom('node', 'instance', 'vm', '')),
    ResourceId: nodeIdList,
    Tag: mostly(
      fc.oneof(
        fc.constantFrom([], [{ Key: 'a', Value: 'b' }], [{ Key: '' }], [{ Key: 'a', Value: 1 }]),
        fc.array(fc.record({ Key: str, Value: str }), { maxLength: 22 }),
      ),
    ),
    TagKey: mostly(fc.oneof(fc.constantFrom([], ['a'], ['']), fc.array(str, { maxLength: 22 }))),
    All: flag,
    StartTime: mostly(
      fc.constantFrom('2020-01-01T00:00:00Z', '2090-01-01T00:00:00Z', 'yesterday', ''),
    ),
    EndTime: mostly(
      fc.constantFrom('2090-01-01T00:00:00Z', '1970-01-01T00:00:00Z', '2020-13-01', ''),
    ),
    Action: mostly(fc.constantFrom('RunCommand', 'Nothing', '', 'x'.repeat(200))),
    MaxConcurrency: mostly(fc.constantFrom('1', '10%', '0', '0%', '101%', 'x', '', 5, -1, 1.5)),
    MaxErrors: mostly(fc.constantFrom('0', '5', '5%', '100%', '-1', 'many', 2_000_000)),
    Status: mostly(
      fc.constantFrom(['Failed'], ['Failed', 'Timeout'], [], ['Success'], ['Nope'], 'Failed'),
    ),
    Actor: mostly(fc.oneof(fc.constantFrom('default', 'cli:root@host', ''), str)),
  };
}

/** Values each field accepts in every action that has it (so a request of them is valid). */
function validValues(dir: string): Record<string, fc.Arbitrary<unknown>> {
  const status = fc.constantFrom('Success', 'Running', 'Finished', 'Failed');
  const text = fc.string({ maxLength: 20 });
  return {
    NodeIdList: fc.constant(['n1']),
    NodeId: fc.constant('n1'),
    CommandContent: fc.constantFrom('true', ': fuzz'),
    ContentEncoding: fc.constant('PlainText'),
    ContentType: fc.constantFrom('PlainText', 'Base64'),
    Content: fc.constant('aGVsbG8K'),
    Name: fc.constantFrom('f.txt', 'fuzz'),
    Description: text,
    CommandName: text,
    Type: fc.constant('RunShellScript'),
    Frequency: fc.constantFrom('', '', 'rate(1d)', '0 0 0 1 1 * 2090', 'at(2090-01-01 00:00:00)'),
    RepeatMode: fc.constantFrom(undefined, 'Once'),
    Timeout: fc.integer({ min: 1, max: 86_400 }),
    MaxResults: fc.integer({ min: 1, max: 50 }),
    Username: fc.constantFrom('', 'nobody'),
    FileOwner: fc.constantFrom('', 'nobody'),
    FileGroup: fc.constant(''),
    WorkingDir: fc.constantFrom('', dir),
    TargetDir: fc.constantFrom(dir, join(dir, 'sub')),
    FileMode: fc.constantFrom('0644', '0600'),
    Overwrite: fc.boolean(),
    EnableParameter: fc.constant(false),
    IncludeOutput: fc.constantFrom(true, false, 'true'),
    IncludeHistory: fc.boolean(),
    Online: fc.boolean(),
    Parameters: fc.constantFrom({}, { p: 'v' }),
    TerminationMode: fc.constantFrom('ProcessTree', 'Process'),
    Launcher: fc.constantFrom('', '/bin/sh'),
    ClientToken: fc.stringMatching(/^[ -~]{1,64}$/),
    InvokeId: knownId('invoke'),
    CommandId: knownId('command'),
    InvokeStatus: status,
    InvokeRecordStatus: status,
    InvocationStatus: status,
    NextToken: fc.constant(undefined),
    // NodeIdList is given: a ResourceTag beside it would be refused.
    ResourceTag: fc.constant(undefined),
    ResourceType: fc.constantFrom('node', 'instance'),
    ResourceId: fc.constant(['n1']),
    Tag: fc.constantFrom([{ Key: 'fuzz', Value: 'v' }], [{ Key: 'fuzz' }]),
    TagKey: fc.constant(['fuzz']),
    All: fc.constant(undefined),
    StartTime: fc.constantFrom(undefined, '2020-01-01T00:00:00Z'),
    EndTime: fc.constantFrom(undefined, '2090-01-01T00:00:00Z'),
    Action: fc.constantFrom(undefined, 'RunCommand'),
    Actor: fc.constantFrom(undefined, 'default'),
    MaxConcurrency: fc.constantFrom(undefined, '1', '50%', 2),
    MaxErrors: fc.constantFrom(undefined, '0', '10%', 3),
    // RerunInvocation of the known invocation: only a status some node last ended with is valid.
    Status: fc.constant(undefined),
  };
}

/** The fields an action's schema requires (those that refuse `undefined`). */
function requiredOf(action: string): string[] {
  const schema = ACTIONS[action]?.request;
  assert.ok(schema instanceof z.ZodObject);
  const shape = schema.shape as Record<string, z.ZodType>;
  const required = Object.keys(shape).filter((f) => !shape[f]?.safeParse(undefined).success);
  // NodeIdList or ResourceTag is required (the action checks): NodeIdList stands for the pair.
  return 'ResourceTag' in shape && 'NodeIdList' in shape ? [...required, 'NodeIdList'] : required;
}

/** Sets `key` as an own, enumerable property (plain assignment of `__proto__` would not). */
function defineOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

/** Where a poisoned key goes: the top level, inside Parameters, or in a nested object value. */
type Poison = { key: string; where: 'top' | 'Parameters' | 'nested'; value: unknown };

const poisonArb: fc.Arbitrary<Poison> = fc.record({
  key: fc.constantFrom(...FORBIDDEN_KEYS),
  where: fc.constantFrom('top', 'Parameters', 'nested'),
  value: fc.oneof(
    fc.constant({ polluted: 'yes' }),
    fc.constant({ prototype: { polluted: 'yes' } }),
    fc.constant({ toString: 'polluted', valueOf: 1 }),
    json,
  ),
});

function poisoned(body: unknown, poison: Poison): unknown {
  const base: Record<string, unknown> =
    typeof body === 'object' && body !== null && !Array.isArray(body)
      ? { ...(body as Record<string, unknown>) }
      : {};
  if (poison.where === 'top') {
    defineOwn(base, poison.key, poison.value);
    return base;
  }
  const inner: Record<string, unknown> = {};
  defineOwn(inner, poison.key, poison.value);
  if (poison.where === 'Parameters') {
    const p = base.Parameters;
    const params = typeof p === 'object' && p !== null && !Array.isArray(p) ? { ...p } : {};
    defineOwn(params, poison.key, poison.value);
    base.Parameters = params;
  } else {
    base.NodeIdList = [{ deep: [inner] }];
  }
  return base;
}

/** Whether a forbidden key is an own key anywhere in `value` (as JSON.parse would make it). */
function hasForbiddenKey(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false;
  return Object.keys(value).some(
    (k) =>
      (FORBIDDEN_KEYS as readonly string[]).includes(k) ||
      hasForbiddenKey((value as Record<string, unknown>)[k]),
  );
}

interface Request {
  action: string;
  body: unknown;
  /** A query string trying to pollute through fastify's querystring parser. */
  query: boolean;
  /** Every body is read as JSON whatever its Content-Type (absent: none sent). */
  contentType?: string;
}

function requestArb(dir: string): fc.Arbitrary<Request> {
  const values = fieldValues(dir);
  const allFields = Object.keys(values);
  const own = (action: string) =>
    fc.record(Object.fromEntries(fieldsOf(action).map((f) => [f, values[f] ?? json])), {
      requiredKeys: [],
    });
  const valid = validValues(dir);
  // SendFile ids and command invocation ids are listed apart: each action names its own kind.
  const validOf = (action: string, f: string) =>
    f === 'InvokeId'
      ? knownId(action === 'DescribeSendFileResults' ? 'file' : 'invoke')
      : (valid[f] ?? json);
  const validBody = (action: string) =>
    fc.record(Object.fromEntries(fieldsOf(action).map((f) => [f, validOf(action, f)])), {
      requiredKeys: requiredOf(action),
    });
  /** A valid request, with at most one field replaced, removed or added. */
  const mutated = (action: string) =>
    fc
      .tuple(
        validBody(action),
        fc.option(
          fc
            .constantFrom(...fieldsOf(action), 'Foo')
            .chain((field) =>
              fc.tuple(
                fc.constant(field),
                fc.oneof(values[field] ?? json, json, fc.constant(undefined)),
              ),
            ),
          { freq: 2 },
        ),
      )
      .map(([body, change]) => (change ? { ...body, [change[0]]: change[1] } : body));
  const bodyFor = (action: string) =>
    fc.oneof(
      { arbitrary: validBody(action), weight: 5 },
      { arbitrary: mutated(action), weight: 6 },
      {
        arbitrary: fc.tuple(mutated(action), poisonArb).map(([b, p]) => poisoned(b, p)),
        weight: 1,
      },
      { arbitrary: json, weight: 1 },
      // Another action's fields (unknown here), with plausible values.
      {
        arbitrary: fc
          .subarray(allFields, { maxLength: 5 })
          .chain((fs) => fc.record(Object.fromEntries(fs.map((f) => [f, values[f] ?? json])))),
        weight: 1,
      },
      { arbitrary: own(action), weight: 3 },
      { arbitrary: fc.tuple(own(action), poisonArb).map(([b, p]) => poisoned(b, p)), weight: 2 },
    );
  return fc.constantFrom(...ACTION_NAMES).chain((action) =>
    fc.record({
      action: fc.constant(action),
      body: bodyFor(action),
      query: fc.integer({ min: 0, max: 7 }).map((n) => n === 0),
      contentType: fc.constantFrom(
        'application/json',
        'application/json',
        'text/plain',
        'application/x-www-form-urlencoded',
        'application/json; charset=latin1',
        undefined,
      ),
    }),
  );
}

/** Each key under the prefix with its DUMP and whether it has a TTL: equal means unchanged. */
async function stateOf(stack: Stack): Promise<Map<string, string>> {
  // The audit trail records every state-changing call, refused ones too (audit.test.ts).
  const keys = (await keysUnder(stack.redis, stack.prefix)).filter((k) => !k.endsWith(AUDIT_KEY));
  // Sent together, not as one pipeline: on a cluster a pipeline must stay in one slot.
  const replies = await Promise.all(
    keys.map((k) => Promise.all([stack.redis.dumpBuffer(k), stack.redis.pttl(k)])),
  );
  const state = new Map<string, string>();
  keys.forEach((k, i) => {
    const [dump, ttl] = replies[i] ?? [null, -2];
    state.set(k, `${dump?.toString('base64') ?? 'gone'} ttl:${ttl > 0 ? 'yes' : String(ttl)}`);
  });
  return state;
}

function changedKeys(a: Map<string, string>, b: Map<string, string>): string[] {
  const names = new Set([...a.keys(), ...b.keys()]);
  return [...names].filter((k) => a.get(k) !== b.get(k));
}

const PROTOTYPES: [string, object][] = [
  ['Object.prototype', Object.prototype],
  ['Array.prototype', Array.prototype],
  ['Function.prototype', Function.prototype],
  ['String.prototype', String.prototype],
];
const prototypeShape = () =>
  PROTOTYPES.map(([name, p]) => `${name}: ${Object.getOwnPropertyNames(p).sort().join(',')}`);

/** Sends one fuzzed request (the server runs in this process, so its prototypes are ours). */
async function send(stack: Stack, req: Request, known: Known, raw?: string): Promise<ApiResponse> {
  const body = resolveKnown(req.body, known);
  const query = req.query
    ? '?__proto__[polluted]=yes&constructor[prototype][polluted]=yes&prototype=1'
    : '';
  const res = await fetch(`${stack.url}/v1/${req.action}${query}`, {
    method: 'POST',
    headers: {
      ...(req.contentType !== undefined ? { 'content-type': req.contentType } : {}),
      authorization: `Bearer ${stack.token}`,
    },
    body: raw ?? JSON.stringify(body) ?? '',
  });
  const text = await res.text();
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    assert.fail(`${req.action} answered ${res.status} with a body that is not JSON: ${text}`);
  }
  return { status: res.status, body: parsed };
}

/** The saved command each suite starts with, and puts back when a fuzzed DeleteCommand took the last. */
const SAVED_COMMAND = { Name: 'c', CommandContent: 'echo {{p}}', EnableParameter: true };

interface Known {
  invoke: string[];
  file: string[];
  command: string[];
}

async function knownIds(stack: Stack): Promise<Known> {
  const [invoke, file, command] = await Promise.all([
    stack.redis.zrange(stack.keys.invocationIndex(), 0, -1),
    stack.redis.zrange(stack.keys.sendFileIndex(), 0, -1),
    stack.redis.zrange(stack.keys.commandIndex(), 0, -1),
  ]);
  return { invoke, file, command };
}

function resolveKnown(body: unknown, known: Known): unknown {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return body;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(body)) {
    let v = (body as Record<string, unknown>)[k];
    for (const [kind, marker] of Object.entries(KNOWN) as [keyof Known, string][]) {
      const ids = known[kind];
      if (typeof v === 'string' && v.startsWith(`${marker}#`) && ids.length > 0) {
        v = ids[Number(v.slice(marker.length + 1)) % ids.length];
      }
    }
    defineOwn(out, k, v);
  }
  return out;
}

/** The checks every answer must pass, whatever the request. */
function checkAnswer(req: Request, sentBody: unknown, res: ApiResponse): void {
  const what = `${req.action} ${JSON.stringify(sentBody)?.slice(0, 400)} -> ${res.status} ${JSON.stringify(res.body).slice(0, 400)}`;
  assert.ok(res.status < 500, `5xx: ${what}`);
  assert.match(String(res.body.RequestId), REQUEST_ID_RE, what);
  if (res.status >= 400) {
    assert.deepEqual(Object.keys(res.body).sort(), ['Code', 'Message', 'RequestId'], what);
    assert.equal(typeof res.body.Code, 'string', what);
    assert.ok(String(res.body.Message).length > 0, what);
    assert.doesNotMatch(String(res.body.Message), /\n\s+at /, `a stack trace: ${what}`);
    if (res.body.Code === 'InvalidParameter.Frequency') {
      assert.match(String(res.body.Message), /^Frequency: /, what);
    }
  } else {
    assert.equal(res.status, 200, what);
  }
  if (hasForbiddenKey(sentBody)) {
    assert.equal(res.status, 400, `a forbidden key was not refused: ${what}`);
    assert.equal(res.body.Code, 'InvalidParameter', what);
    assert.match(String(res.body.Message), /__proto__|constructor|prototype/, what);
  }
}

function checkNoPollution(shape: string[]): void {
  assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype polluted');
  assert.equal(([] as unknown as Record<string, unknown>).polluted, undefined);
  assert.deepEqual(prototypeShape(), shape, 'a prototype gained or lost a property');
}

async function healthy(stack: Stack): Promise<void> {
  const res = await fetch(`${stack.url}/healthz`);
  assert.equal(res.status, 200, 'the server still answers /healthz');
}

/** Tally of `action status` pairs, printed as a diagnostic so a run shows what it reached. */
function tally(seen: Map<string, number>, req: Request, res: ApiResponse): void {
  const key = `${req.action} ${res.status}`;
  seen.set(key, (seen.get(key) ?? 0) + 1);
}

/**
 * Sends `numRuns` fuzzed requests, each checked by checkAnswer and for pollution; with
 * `stateChecked`, a rejected or read-only request must leave every key as it was. Returns the
 * statuses seen per action and how long it took.
 */
async function fuzzActions(
  stack: Stack,
  dir: string,
  shape: string[],
  opts: {
    numRuns: number;
    stateChecked: boolean;
    requests?: fc.Arbitrary<Request>;
    check?: (res: ApiResponse) => void;
  },
): Promise<{ seen: [string, number][]; ms: number }> {
  const seen = new Map<string, number>();
  const started = Date.now();
  let known = await knownIds(stack);
  let state = opts.stateChecked ? await stateOf(stack) : undefined;
  await fc.assert(
    fc.asyncProperty(opts.requests ?? requestArb(dir), async (req) => {
      const sent = resolveKnown(req.body, known);
      const res = await send(stack, req, known);
      tally(seen, req, res);
      checkAnswer(req, sent, res);
      opts.check?.(res);
      checkNoPollution(shape);
      const readOnly = res.status !== 200 || req.action.startsWith('Describe');
      if (state) {
        const now = await stateOf(stack);
        if (readOnly) {
          const what = `${req.action} ${JSON.stringify(sent)?.slice(0, 300)} -> ${res.status}`;
          assert.deepEqual(changedKeys(state, now), [], `${what} changed Redis`);
        }
        state = now;
      }
      if (!readOnly) known = await knownIds(stack);
      // Commands are the one kind a request can delete. With none left, `@known-command` names
      // nothing and every later ModifyCommand / InvokeCommand of the run could only be a 404.
      if (known.command.length === 0) {
        const res = await stack.call('CreateCommand', SAVED_COMMAND);
        assert.equal(res.status, 200, JSON.stringify(res.body));
        known = await knownIds(stack);
        if (state) state = await stateOf(stack);
      }
    }),
    { numRuns: opts.numRuns },
  );
  await healthy(stack);
  return { seen: [...seen].sort(), ms: Date.now() - started };
}

void describe('fuzz: every action against an API-only server (state checked byte for byte)', () => {
  let stack: Stack;
  let dir: string;
  let shape: string[];

  before(async () => {
    stack = await makeStack({ FLEETCMD_ROLE: 'api' });
    // The agent registers n1, then dies: n1 stays registered (offline) and nothing else runs.
    const agent = await stack.startAgent('n1');
    await agent.kill('SIGKILL');
    dir = await mkdtemp(join(tmpdir(), 'fleetcmd-fuzz-'));
    // Something of every kind for the `@known-…` ids to name.
    for (const [action, body] of [
      ['RunCommand', { NodeIdList: ['n1'], CommandContent: 'true' }],
      ['RunCommand', { NodeIdList: ['n1'], CommandContent: 'true', Frequency: 'rate(1d)' }],
      ['SendFile', { NodeIdList: ['n1'], Name: 'f.txt', TargetDir: dir, Content: 'x' }],
      ['CreateCommand', SAVED_COMMAND],
    ] as const) {
      const res = await stack.call(action, body);
      assert.equal(res.status, 200, JSON.stringify(res.body));
    }
    // Invocations whose node ended without success (stopped before they ran: Cancelled), so
    // RerunInvocation of a known id is often one it can accept, without the fuzz having to stop
    // one first (it accepted 0 to 2 of ~17 fuzzed bodies, and 0 fails the check that every
    // action was; with one such invocation, 1 to 4). Three of them: most known ids are.
    for (let i = 0; i < 3; i++) {
      const ran = await stack.call('RunCommand', { NodeIdList: ['n1'], CommandContent: 'true' });
      assert.equal(ran.status, 200, JSON.stringify(ran.body));
      const stop = await stack.call('StopInvocation', { InvokeId: ran.body.InvokeId });
      assert.equal(stop.status, 200, JSON.stringify(stop.body));
    }
    shape = prototypeShape();
  });
  after(async () => {
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  });

  void it('has plausible values for every field of every action', () => {
    const values = fieldValues(dir);
    const valid = validValues(dir);
    assert.ok(ACTION_NAMES.length >= 12, ACTION_NAMES.join(','));
    for (const action of ACTION_NAMES) {
      for (const f of fieldsOf(action)) {
        assert.ok(f in values, `${action}.${f} has no generator`);
        assert.ok(f in valid, `${action}.${f} has no valid values`);
      }
    }
  });

  void it('never a 5xx; rejected and read-only requests change nothing; forbidden keys are refused and inert', async (t) => {
    const { seen: statuses, ms } = await fuzzActions(stack, dir, shape, {
      numRuns: 300,
      stateChecked: true,
    });
    t.diagnostic(`${ms} ms; statuses seen: ${JSON.stringify(statuses)}`);
    // Every action was fuzzed, and accepted some bodies (so the fuzz reaches Redis too).
    for (const action of ACTION_NAMES) {
      assert.ok(
        statuses.some(([k]) => k === `${action} 200`),
        `${action} accepted a fuzzed body`,
      );
    }
  });

  void it('Frequency texts through RunCommand: 200 or 400 naming Frequency, never more', async (t) => {
    const requests = fc
      .record({
        Frequency: frequencyText,
        RepeatMode: fc.constantFrom(undefined, 'Once', 'Period', 'EveryReboot'),
      })
      .map((f): Request => ({
        action: 'RunCommand',
        body: { NodeIdList: ['n1'], CommandContent: 'true', ...f },
        query: false,
      }));
    const { seen, ms } = await fuzzActions(stack, dir, shape, {
      numRuns: 200,
      stateChecked: true,
      requests,
      check: (res) => {
        if (res.status === 400) assert.match(String(res.body.Message), /^Frequency: /);
      },
    });
    t.diagnostic(`${ms} ms; statuses seen: ${JSON.stringify(seen)}`);
    assert.deepEqual(
      seen.map(([k]) => k),
      ['RunCommand 200', 'RunCommand 400'],
    );
  });

  void it('bodies over the limit are 413 PayloadTooLarge for every action, and change nothing', async () => {
    const before = await stateOf(stack);
    for (const action of ACTION_NAMES) {
      for (const over of [1, 4096, 300 * 1024]) {
        const raw = JSON.stringify({ Description: 'd'.repeat(BODY_LIMIT + over) });
        const res = await send(
          stack,
          { action, body: undefined, query: false, contentType: 'application/json' },
          await knownIds(stack),
          raw,
        );
        assert.equal(res.status, 413, `${action} +${over}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.Code, 'PayloadTooLarge');
        assert.match(String(res.body.RequestId), REQUEST_ID_RE);
        assert.deepEqual(Object.keys(res.body).sort(), ['Code', 'Message', 'RequestId']);
      }
      // Exactly at the limit is read (and refused for what it says, not for its size).
      const filler = 'd'.repeat(BODY_LIMIT - JSON.stringify({ Description: '' }).length);
      const atLimit = JSON.stringify({ Description: filler });
      assert.equal(Buffer.byteLength(atLimit), BODY_LIMIT);
      const res = await send(
        stack,
        { action, body: undefined, query: false, contentType: 'application/json' },
        await knownIds(stack),
        atLimit,
      );
      assert.notEqual(res.status, 413, `${action} at the limit: ${JSON.stringify(res.body)}`);
      assert.ok(res.status < 500);
    }
    // Sent in chunks without a Content-Length, the limit still holds.
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let sentChunks = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sentChunks++ < 6) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const res = await fetch(`${stack.url}/v1/RunCommand`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.token}` },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    assert.equal(res.status, 413);
    assert.equal(((await res.json()) as { Code?: string }).Code, 'PayloadTooLarge');
    assert.deepEqual(changedKeys(before, await stateOf(stack)), []);
    await healthy(stack);
  });
});

void describe('fuzz: every action against a whole stack with a live agent', () => {
  let stack: Stack;
  let dir: string;
  let shape: string[];

  before(async () => {
    stack = await makeStack();
    await stack.startAgent('n1');
    await relayCaughtUp(stack, 1);
    dir = await mkdtemp(join(tmpdir(), 'fleetcmd-fuzz-'));
    for (const [action, body] of [
      ['RunCommand', { NodeIdList: ['n1'], CommandContent: 'true' }],
      ['SendFile', { NodeIdList: ['n1'], Name: 'f.txt', TargetDir: dir, Content: 'x' }],
      ['CreateCommand', SAVED_COMMAND],
    ] as const) {
      assert.equal((await stack.call(action, body)).status, 200);
    }
    shape = prototypeShape();
  });
  after(async () => {
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  });

  void it('never a 5xx; every accepted invocation runs to a final status', async (t) => {
    const { seen, ms } = await fuzzActions(stack, dir, shape, {
      numRuns: 120,
      stateChecked: false,
    });
    t.diagnostic(`${ms} ms; statuses seen: ${JSON.stringify(seen)}`);
    // Nothing accepted is left hanging: timed invocations are stopped, the rest end by themselves.
    const { invoke } = await knownIds(stack);
    for (const id of invoke) {
      if ((await stack.describe(id)).RepeatMode !== 'Once') {
        assert.equal((await stack.call('StopInvocation', { InvokeId: id })).status, 200);
      }
      await waitFinal(stack, id, 30_000);
    }
    await healthy(stack);
  });
});
