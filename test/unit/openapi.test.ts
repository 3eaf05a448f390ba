import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ACTIONS } from '../../src/api/actions/registry.js';
import { REGISTER_NODE, REGISTER_NODE_DOC } from '../../src/api/enroll-route.js';
import { buildOpenApi } from '../../src/api/plugins/openapi.js';
import { buildServer, type ServerDeps } from '../../src/api/server.js';
import { renderInvocation } from '../../src/api/render.js';
import { pendingRun, type Invocation } from '../../src/domain/invocation.js';
import { ERROR_CATALOGUE } from '../../src/app/errors.js';
import { makeLogger } from '../../src/shared/log.js';
import { VERSION } from '../../src/shared/version.js';

type Json = Record<string, unknown>;

const obj = (v: unknown, what: string): Json => {
  assert.ok(v !== null && typeof v === 'object' && !Array.isArray(v), `${what} is an object`);
  return v as Json;
};

/** Follows a local `#/a/b` reference inside the document. */
function resolve(doc: Json, ref: string): Json {
  assert.ok(ref.startsWith('#/'), `local ref ${ref}`);
  let cur: unknown = doc;
  for (const part of ref.slice(2).split('/')) cur = obj(cur, ref)[part];
  return obj(cur, ref);
}

/** Every `$ref` anywhere in a value. */
function refs(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) for (const x of v) refs(x, out);
  else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k === '$ref' && typeof x === 'string') out.push(x);
      else refs(x, out);
    }
  }
  return out;
}

/** The request body schema of one action, with its reference followed. */
function requestOf(doc: Json, action: string): Json {
  const post = obj(obj(obj(doc.paths, 'paths')[`/v1/${action}`], action).post, 'post');
  const content = obj(obj(post.requestBody, 'requestBody').content, 'content');
  const schema = obj(obj(content['application/json'], 'json').schema, 'schema');
  return typeof schema.$ref === 'string' ? resolve(doc, schema.$ref) : schema;
}

const INVOCATION: Invocation = {
  invokeId: 't-abc',
  commandId: '',
  name: 'n',
  description: '',
  content: Buffer.from('true'),
  nodeIds: [],
  frequency: '',
  repeatMode: 'Once',
  timeoutSeconds: 60,
  username: '',
  workingDir: '',
  parameters: {},
  enableParameter: false,
  terminationMode: 'ProcessTree',
  launcher: '',
  createdMs: 0,
};

/** The 200 answer schema of one action, with its reference followed. */
function responseOf(doc: Json, action: string): Json {
  const post = obj(obj(obj(doc.paths, 'paths')[`/v1/${action}`], action).post, 'post');
  const ok = obj(obj(obj(post.responses, 'responses')['200'], '200').content, 'content');
  const schema = obj(obj(ok['application/json'], 'json').schema, 'schema');
  return typeof schema.$ref === 'string' ? resolve(doc, schema.$ref) : schema;
}

/** A server with no Redis behind it: /docs reads none. */
function docsServer() {
  return buildServer({
    apiToken: 'secret',
    log: makeLogger('silent', 'test'),
  } as unknown as ServerDeps);
}

void describe('OpenAPI document (GET /docs)', () => {
  const doc = buildOpenApi(ACTIONS, VERSION, { [REGISTER_NODE]: REGISTER_NODE_DOC }) as Json;

  void it('every registered action has a summary', () => {
    assert.ok(Object.keys(ACTIONS).length > 0);
    for (const [name, entry] of Object.entries(ACTIONS)) {
      assert.ok(entry.summary.trim().length > 0, `${name} has a summary`);
    }
  });

  void it('has the OpenAPI 3.1 shape, with a path per action and resolvable references', () => {
    assert.equal(doc.openapi, '3.1.0');
    const info = obj(doc.info, 'info');
    assert.equal(info.version, VERSION);
    assert.equal(typeof info.title, 'string');
    const schemes = obj(obj(doc.components, 'components').securitySchemes, 'securitySchemes');
    assert.deepEqual(schemes.bearerAuth, { type: 'http', scheme: 'bearer' });
    assert.deepEqual(doc.security, [{ bearerAuth: [] }]);
    const paths = obj(doc.paths, 'paths');
    for (const name of Object.keys(ACTIONS)) {
      const post = obj(obj(paths[`/v1/${name}`], name).post, `${name} post`);
      assert.equal(post.operationId, name);
      assert.ok((responseOf(doc, name).required as string[]).includes('RequestId'), name);
      assert.equal(requestOf(doc, name).type, 'object');
    }
    for (const ref of refs(doc)) resolve(doc, ref);
    // The JSON Schema dialect is the document's, not repeated per body.
    assert.ok(!JSON.stringify(doc).includes('"$schema"'));
  });

  void it('lists every catalogued error code under its HTTP status, in the error shape', () => {
    const responses = obj(obj(doc.components, 'components').responses, 'responses');
    const seen = new Set<string>();
    for (const [code, { status }] of Object.entries(ERROR_CATALOGUE)) {
      const res = obj(responses[`Error${status}`], `Error${status}`);
      const schema = obj(
        obj(obj(res.content, 'content')['application/json'], 'json').schema,
        'schema',
      );
      assert.deepEqual(schema.required, ['RequestId', 'Code', 'Message']);
      const codes = obj(obj(schema.properties, 'properties').Code, 'Code').enum as string[];
      assert.ok(codes.includes(code), `${code} listed under ${status}`);
      assert.ok(String(res.description).includes(code));
      seen.add(code);
    }
    assert.equal(seen.size, Object.keys(ERROR_CATALOGUE).length);
  });

  void it('lists for each action only the errors it can answer', () => {
    const errorsOf = (action: string): Map<string, string[]> => {
      const post = obj(obj(obj(doc.paths, 'paths')[`/v1/${action}`], action).post, 'post');
      const out = new Map<string, string[]>();
      for (const [status, r] of Object.entries(obj(post.responses, 'responses'))) {
        if (status === '200') continue;
        const content = obj(obj(r, status).content, 'content');
        const schema = obj(obj(content['application/json'], 'json').schema, 'schema');
        out.set(status, obj(obj(schema.properties, 'p').Code, 'Code').enum as string[]);
      }
      return out;
    };
    const conflict = Object.keys(ACTIONS).filter((a) => errorsOf(a).has('409'));
    assert.deepEqual(conflict.sort(), [
      'DeleteActivation',
      'InvokeCommand',
      'RerunInvocation',
      'RunCommand',
    ]);
    const notFound = Object.fromEntries(
      Object.keys(ACTIONS)
        .filter((a) => errorsOf(a).has('404'))
        .map((a) => [a, errorsOf(a).get('404')]),
    );
    const invoke = ['InvalidInvokeId.NotFound'];
    const command = ['InvalidCommandId.NotFound'];
    const activation = ['InvalidActivationId.NotFound'];
    const webhook = ['InvalidWebhookId.NotFound'];
    assert.deepEqual(notFound, {
      DeleteActivation: activation,
      DisableActivation: activation,
      DeleteCommand: command,
      DescribeInvocationResults: invoke,
      DescribeInvocations: invoke,
      DescribeSendFileResults: invoke,
      InvokeCommand: command,
      ModifyCommand: command,
      RerunInvocation: invoke,
      StopInvocation: invoke,
      DeleteWebhook: webhook,
      DescribeWebhookDeliveries: webhook,
      SummarizeInvocation: invoke,
    });
    // Every action can meet bad input, a wrong token, a too large body and Redis being away.
    for (const action of Object.keys(ACTIONS)) {
      const errors = errorsOf(action);
      for (const status of ['400', '401', '413', '500', '503']) {
        assert.ok(errors.has(status), `${action} ${status}`);
      }
      assert.ok(errors.get('400')?.includes('InvalidParameter'));
    }
    assert.ok(!errorsOf('DescribeNodes').get('400')?.includes('InvalidNodeId.NotFound'));
    // RegisterNode needs no token: none of the token's errors, and its own refusals.
    const register = errorsOf(REGISTER_NODE);
    assert.ok(!register.has('401'));
    assert.ok(!register.get('403')?.includes('Forbidden.Role'));
    assert.ok(register.get('403')?.includes('Activation.IpAddressNotAllowed'));
    assert.deepEqual(register.get('409'), ['InvalidNodeId.Taken']);
    assert.deepEqual(register.get('404'), ['InvalidActivationId.NotFound']);
    assert.ok(errorsOf('SendFile').get('400')?.includes('InvalidFileContent.Malformed'));
  });

  void it('documents the answers of the listing actions in the seed’s shape', () => {
    const items = (schema: Json, ...path: string[]): Json => {
      let cur = schema;
      for (const p of path) cur = obj(obj(cur.properties, `properties of ${p}`)[p], p);
      assert.equal(cur.type, 'array');
      return obj(cur.items, 'items');
    };
    const props = (schema: Json) => Object.keys(obj(schema.properties, 'properties')).sort();
    // The renderer's fields, with every optional one present (test/unit/seed-shape.test.ts
    // holds the renderer to the seed's field list).
    const rendered = renderInvocation(
      { ...INVOCATION, nodeIds: ['n1'], maxConcurrency: '10%', maxErrors: '1' },
      new Map([['n1', { ...pendingRun(0), status: 'Failed', exitCode: 3 }]]),
      { includeOutput: true, contentEncoding: 'PlainText' },
    );
    const invocation = items(responseOf(doc, 'DescribeInvocations'), 'Invocations', 'Invocation');
    assert.deepEqual(props(invocation), Object.keys(rendered).sort());
    const node = (rendered.InvokeNodes as { InvokeNode: Json[] }).InvokeNode[0];
    assert.deepEqual(
      props(items(invocation, 'InvokeNodes', 'InvokeNode')),
      Object.keys(node ?? {}).sort(),
    );
    items(
      obj(obj(responseOf(doc, 'DescribeInvocationResults').properties, 'p').Invocation, 'I'),
      'InvocationResults',
      'InvocationResult',
    );
    assert.ok(props(items(responseOf(doc, 'DescribeNodes'), 'Nodes', 'Node')).includes('Online'));
    items(responseOf(doc, 'DescribeCommands'), 'Commands', 'Command');
    items(responseOf(doc, 'DescribeSendFileResults'), 'Invocations', 'Invocation');
    // RunCommand and InvokeCommand answer a DryRun without an InvokeId.
    for (const action of ['RunCommand', 'InvokeCommand']) {
      assert.deepEqual(responseOf(doc, action).required, ['RequestId']);
      const answer = obj(responseOf(doc, action).properties, 'properties');
      for (const field of ['InvokeId', 'DryRun', 'NodeCount', 'OfflineNodeIds']) {
        assert.ok(field in answer, `${action} documents ${field}`);
      }
    }
    for (const [action, field] of [
      ['SendFile', 'InvokeId'],
      ['CreateCommand', 'CommandId'],
    ] as const) {
      assert.deepEqual(responseOf(doc, action).required, ['RequestId', field]);
    }
    assert.ok('/docs/openapi.json' in obj(doc.paths, 'paths'));
  });

  void it('RunCommand: the request as the client sends it (defaults make fields optional)', () => {
    const req = requestOf(doc, 'RunCommand');
    const required = req.required as string[];
    // NodeIdList or ResourceTag: one of them, which the action checks.
    assert.deepEqual([...required].sort(), ['CommandContent']);
    assert.equal(req.additionalProperties, false);
    const props = obj(req.properties, 'properties');
    for (const field of [
      'CommandContent',
      'ContentEncoding',
      'Frequency',
      'Timeout',
      'NodeIdList',
      'ResourceTag',
    ]) {
      assert.ok(field in props, `${field} documented`);
    }
    const nodeIdList = obj(props.NodeIdList, 'NodeIdList');
    assert.equal(nodeIdList.type, 'array');
    assert.equal(nodeIdList.minItems, 1);
    assert.equal(nodeIdList.maxItems, 1000);
    assert.equal(typeof obj(nodeIdList.items, 'items').pattern, 'string');
    const timeout = obj(props.Timeout, 'Timeout');
    assert.equal(timeout.default, 60);
    assert.equal(timeout.maximum, 86_400);
    assert.deepEqual(obj(props.ContentEncoding, 'ContentEncoding').enum, ['PlainText', 'Base64']);
    // StopInvocation's InvokeId has no default: required.
    assert.deepEqual(requestOf(doc, 'StopInvocation').required, ['InvokeId']);
  });

  void it('is served at /docs and /docs/openapi.json without a token', async () => {
    const app = docsServer();
    try {
      for (const url of ['/docs', '/docs/openapi.json']) {
        const res = await app.inject({ method: 'GET', url });
        assert.equal(res.statusCode, 200, url);
        assert.match(String(res.headers['content-type']), /^application\/json/);
        assert.deepEqual(res.json(), JSON.parse(JSON.stringify(doc)));
      }
      // The actions themselves still need it.
      const denied = await app.inject({ method: 'POST', url: '/v1/DescribeNodes', payload: {} });
      assert.equal(denied.statusCode, 401);
    } finally {
      await app.close();
    }
  });
});
