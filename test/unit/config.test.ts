import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/shared/config.js';
import type { RawSettings } from '../../src/shared/config.js';
import { describeTarget, targetEnv, withCredentials } from '../../src/shared/redis-target.js';

/** Asserts `env` is rejected with a ConfigError whose message names every variable in `names`. */
function assertRejects(env: RawSettings, names: readonly string[]): ConfigError {
  let caught: unknown;
  try {
    loadConfig(env);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `${JSON.stringify(env)} throws a ConfigError`);
  assert.equal(caught.name, 'ConfigError');
  for (const name of names) {
    assert.ok(
      caught.message.includes(name),
      `message for ${JSON.stringify(env)} names ${name}: ${caught.message}`,
    );
  }
  return caught;
}

void describe('loadConfig', () => {
  void it('takes FLEETCMD_SCHEDULER_CONCURRENCY and refuses one that is not a positive integer', () => {
    assert.equal(loadConfig({ FLEETCMD_SCHEDULER_CONCURRENCY: '64' }).schedulerConcurrency, 64);
    assertRejects({ FLEETCMD_SCHEDULER_CONCURRENCY: '0' }, ['FLEETCMD_SCHEDULER_CONCURRENCY']);
    assertRejects({ FLEETCMD_SCHEDULER_CONCURRENCY: 'many' }, ['FLEETCMD_SCHEDULER_CONCURRENCY']);
  });

  void it('takes FLEETCMD_INLINE_FANOUT_NODES (default 64, 0 allowed) and refuses a non-whole one', () => {
    assert.equal(loadConfig({}).inlineFanOutNodes, 64);
    assert.equal(loadConfig({ FLEETCMD_INLINE_FANOUT_NODES: '0' }).inlineFanOutNodes, 0);
    assertRejects({ FLEETCMD_INLINE_FANOUT_NODES: '-1' }, ['FLEETCMD_INLINE_FANOUT_NODES']);
    assertRejects({ FLEETCMD_INLINE_FANOUT_NODES: 'abc' }, ['FLEETCMD_INLINE_FANOUT_NODES']);
  });

  void it('takes FLEETCMD_AUDIT_RETENTION_DAYS (default 90, 1 to 36500) and refuses others by name', () => {
    assert.equal(loadConfig({}).auditRetentionDays, 90);
    assert.equal(loadConfig({ FLEETCMD_AUDIT_RETENTION_DAYS: '1' }).auditRetentionDays, 1);
    for (const bad of ['0', '-3', '1.5', 'forever', '36501']) {
      assertRejects({ FLEETCMD_AUDIT_RETENTION_DAYS: bad }, ['FLEETCMD_AUDIT_RETENTION_DAYS']);
    }
  });

  void it('takes OTEL_EXPORTER_OTLP_ENDPOINT (default off) and refuses one that is no http(s) URL', () => {
    assert.equal(loadConfig({}).otlpEndpoint, undefined);
    assert.equal(
      loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).otlpEndpoint,
      'http://collector:4318',
    );
    assertRejects({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector' }, ['OTEL_EXPORTER_OTLP_ENDPOINT']);
    assertRejects({ OTEL_EXPORTER_OTLP_ENDPOINT: 'ftp://x' }, ['OTEL_EXPORTER_OTLP_ENDPOINT']);
  });

  void it('takes FLEETCMD_NODE_LOST_SECONDS (default 300) of at least 3 heartbeats', () => {
    assert.equal(loadConfig({}).nodeLostSeconds, 300);
    assert.equal(
      loadConfig({ FLEETCMD_NODE_LOST_SECONDS: '3', FLEETCMD_HEARTBEAT_SECONDS: '1' })
        .nodeLostSeconds,
      3,
    );
    assert.equal(loadConfig({ FLEETCMD_HEARTBEAT_SECONDS: '100' }).nodeLostSeconds, 300);
    const short = assertRejects({ FLEETCMD_NODE_LOST_SECONDS: '29' }, [
      'FLEETCMD_NODE_LOST_SECONDS',
      'FLEETCMD_HEARTBEAT_SECONDS',
      '30',
      '29',
    ]);
    assert.match(short.message, /at least 3 heartbeats/);
    // A slower heartbeat raises the floor: the default is refused, not silently stretched.
    assertRejects({ FLEETCMD_HEARTBEAT_SECONDS: '101' }, ['FLEETCMD_NODE_LOST_SECONDS', '303']);
    assertRejects({ FLEETCMD_NODE_LOST_SECONDS: '0' }, ['FLEETCMD_NODE_LOST_SECONDS']);
    assertRejects({ FLEETCMD_NODE_LOST_SECONDS: '5m' }, ['FLEETCMD_NODE_LOST_SECONDS']);
  });

  void it('takes an absolute FLEETCMD_SCRIPT_DIR and leaves the default to the agent', () => {
    assert.equal(loadConfig({ FLEETCMD_SCRIPT_DIR: '/var/tmp/fc' }).scriptDir, '/var/tmp/fc');
    assert.equal(loadConfig({}).scriptDir, undefined);
  });

  void it('gives the SPEC defaults for an empty environment, frozen', () => {
    const c = loadConfig({});
    assert.deepEqual(c.redis, { kind: 'url', url: 'redis://127.0.0.1:6379' });
    assert.equal(c.port, 8080);
    assert.equal(c.heartbeatSeconds, 10);
    assert.equal(c.deliveryTimeoutSeconds, 60);
    assert.equal(c.minIntervalSeconds, 10);
    assert.equal(c.prefix, 'fc');
    assert.equal(c.logLevel, 'info');
    assert.equal(c.role, 'all');
    assert.equal(c.schedulerConcurrency, 32);
    assert.ok(Object.isFrozen(c));
    assert.throws(() => {
      (c as { port: number }).port = 1;
    }, TypeError);
    assert.equal(c.port, 8080);
  });

  void it('reads good values', () => {
    const c = loadConfig({
      REDIS_URL: 'rediss://cache.example:6380/2',
      PORT: '9090',
      FLEETCMD_HEARTBEAT_SECONDS: '5',
      FLEETCMD_DELIVERY_TIMEOUT_SECONDS: '120',
      FLEETCMD_MIN_INTERVAL_SECONDS: '30',
      FLEETCMD_PREFIX: 'fleet_2-x',
      LOG_LEVEL: 'debug',
      FLEETCMD_ROLE: 'scheduler',
      FLEETCMD_NODE_ID: 'node-1.example_a',
    });
    assert.deepEqual(c.redis, { kind: 'url', url: 'rediss://cache.example:6380/2' });
    assert.equal(c.port, 9090);
    assert.equal(c.heartbeatSeconds, 5);
    assert.equal(c.deliveryTimeoutSeconds, 120);
    assert.equal(c.minIntervalSeconds, 30);
    assert.equal(c.prefix, 'fleet_2-x');
    assert.equal(c.logLevel, 'debug');
    assert.equal(c.role, 'scheduler');
    assert.equal(c.nodeId, 'node-1.example_a');
  });

  void it('takes a Redis Cluster from REDIS_CLUSTER_NODES with its credentials', () => {
    const c = loadConfig({
      REDIS_CLUSTER_NODES: ' 10.0.0.1:7000, redis-b.example:7001,[::1]:7002 ',
      REDIS_USERNAME: 'admin',
      REDIS_PASSWORD: 'p@ss:word',
    });
    assert.deepEqual(c.redis, {
      kind: 'cluster',
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: 'redis-b.example', port: 7001 },
        { host: '::1', port: 7002 },
      ],
      tls: false,
      username: 'admin',
      password: 'p@ss:word',
    });
    const tls = loadConfig({ REDIS_CLUSTER_NODES: 'rediss://a:7000,rediss://b:7000/' }).redis;
    assert.equal(tls.kind === 'cluster' && tls.tls, true);
    assert.deepEqual(targetEnv(tls), { REDIS_CLUSTER_NODES: 'rediss://a:7000,rediss://b:7000' });
    assert.deepEqual(loadConfig(targetEnv(withCredentials(c.redis, 'fc.node.n1', 'pw'))).redis, {
      ...c.redis,
      username: 'fc.node.n1',
      password: 'pw',
    });
    assert.equal(describeTarget(c.redis).includes('p@ss'), false);
  });

  void it('refuses REDIS_URL with REDIS_CLUSTER_NODES, and bad cluster settings', () => {
    const both = assertRejects({ REDIS_URL: 'redis://a:6379', REDIS_CLUSTER_NODES: 'a:7000' }, [
      'REDIS_URL',
      'REDIS_CLUSTER_NODES',
    ]);
    assert.match(both.message, /both set/);
    assertRejects({ REDIS_CLUSTER_NODES: 'a' }, ['REDIS_CLUSTER_NODES', '"a"']);
    assertRejects({ REDIS_CLUSTER_NODES: 'a:70000' }, ['REDIS_CLUSTER_NODES']);
    assertRejects({ REDIS_CLUSTER_NODES: 'redis://u:p@a:7000' }, ['REDIS_CLUSTER_NODES']);
    assertRejects({ REDIS_CLUSTER_NODES: ' , ' }, ['REDIS_CLUSTER_NODES', 'no node']);
    assertRejects({ REDIS_CLUSTER_NODES: 'rediss://a:1,b:2' }, ['REDIS_CLUSTER_NODES', 'TLS']);
    assertRejects({ REDIS_PASSWORD: 'x' }, ['REDIS_PASSWORD', 'REDIS_URL']);
    assertRejects({ REDIS_USERNAME: 'x', REDIS_URL: 'redis://a' }, ['REDIS_USERNAME']);
  });

  void it('treats an empty string as unset', () => {
    const c = loadConfig({
      FLEETCMD_DELIVERY_TIMEOUT_SECONDS: '',
      PORT: '',
      REDIS_URL: '',
      FLEETCMD_PREFIX: '',
      LOG_LEVEL: '',
      FLEETCMD_ROLE: '',
    });
    assert.equal(c.deliveryTimeoutSeconds, 60);
    assert.equal(c.port, 8080);
    assert.deepEqual(c.redis, { kind: 'url', url: 'redis://127.0.0.1:6379' });
    assert.equal(c.prefix, 'fc');
    assert.equal(c.logLevel, 'info');
    assert.equal(c.role, 'all');
  });

  void it('accepts PORT=0 (the server binds any free port and logs the one it got)', () => {
    assert.equal(loadConfig({ PORT: '0' }).port, 0);
  });

  const BAD: readonly [string, string][] = [
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['FLEETCMD_HEARTBEAT_SECONDS', '0'],
    ['FLEETCMD_HEARTBEAT_SECONDS', '1.5'],
    ['FLEETCMD_HEARTBEAT_SECONDS', 'ten'],
    ['REDIS_URL', 'http://x'],
    ['FLEETCMD_ROLE', 'both'],
    ['FLEETCMD_NODE_ID', 'bad id'],
    ['FLEETCMD_NODE_ID', 'x:y'],
    ['FLEETCMD_NODE_ID', '{n1}'],
    ['FLEETCMD_PREFIX', 'a:b'],
    ['LOG_LEVEL', 'loud'],
    ['FLEETCMD_SCRIPT_DIR', 'relative/dir'],
  ];
  for (const [name, value] of BAD) {
    void it(`rejects ${name}=${JSON.stringify(value)} with a ConfigError naming ${name}`, () => {
      assertRejects({ [name]: value }, [name]);
    });
  }

  void it('names every bad variable when several are wrong at once', () => {
    const env = Object.fromEntries(
      BAD.filter(([name], i) => BAD.findIndex(([n]) => n === name) === i),
    ) as RawSettings;
    const names = Object.keys(env);
    assert.deepEqual(names, [
      'PORT',
      'FLEETCMD_HEARTBEAT_SECONDS',
      'REDIS_URL',
      'FLEETCMD_ROLE',
      'FLEETCMD_NODE_ID',
      'FLEETCMD_PREFIX',
      'LOG_LEVEL',
      'FLEETCMD_SCRIPT_DIR',
    ]);
    const err = assertRejects(env, names);
    // One line per problem.
    for (const name of names) {
      assert.ok(
        err.message.split('\n').some((line) => line.includes(name)),
        `a line names ${name}`,
      );
    }
  });

  void it('ignores unrelated environment variables', () => {
    const c = loadConfig({
      PATH: '/usr/bin:/bin',
      HOME: '/root',
      NODE_ENV: 'production',
      FLEETCMD_UNKNOWN_SETTING: 'not validated',
      port: 'abc',
      Redis_Url: 'http://x',
    });
    assert.deepEqual(c, loadConfig({}));
  });
});
