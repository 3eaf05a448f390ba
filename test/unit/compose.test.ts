// Structural checks for the container setup: docker-compose.yml and Dockerfile.
// No Docker engine is needed; both files are parsed and their contents asserted.
// node:test's describe/it return promises the runner tracks itself, hence `void`.
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { neededClients } from '../../src/domain/redis-fitness.js';

const composeText = readFileSync(new URL('../../docker-compose.yml', import.meta.url), 'utf8');
const dockerfileText = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');

type Dict = Record<string, unknown>;

function isDict(v: unknown): v is Dict {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function dict(v: unknown, what: string): Dict {
  assert.ok(isDict(v), `${what} must be a mapping`);
  return v;
}

const compose = dict(parse(composeText), 'docker-compose.yml');
const services = dict(compose.services, 'services');

function service(name: string): Dict {
  return dict(services[name], `service ${name}`);
}

/** Compose `environment` may be a mapping or a list of KEY=VALUE strings. */
function envOf(svc: Dict): Record<string, string> {
  const env = svc.environment;
  const out: Record<string, string> = {};
  if (Array.isArray(env)) {
    for (const entry of env) {
      const s = String(entry);
      const i = s.indexOf('=');
      if (i === -1) out[s] = '';
      else out[s.slice(0, i)] = s.slice(i + 1);
    }
  } else if (isDict(env)) {
    for (const [k, v] of Object.entries(env)) out[k] = v == null ? '' : String(v);
  }
  return out;
}

/** Compose `command`/`healthcheck.test` may be a string or a list; return whitespace tokens. */
function tokens(v: unknown): string[] {
  if (Array.isArray(v)) return v.flatMap((x) => String(x).split(/\s+/)).filter(Boolean);
  if (typeof v === 'string') return v.split(/\s+/).filter(Boolean);
  return [];
}

/** Value following `flag` in a token list (e.g. `--hz 100`). */
function flagValue(toks: string[], flag: string): string | undefined {
  const i = toks.indexOf(flag);
  return i === -1 ? undefined : toks[i + 1];
}

function dependsOn(svc: Dict): Dict {
  const d = svc.depends_on;
  if (Array.isArray(d)) return Object.fromEntries(d.map((n) => [String(n), {}]));
  return isDict(d) ? d : {};
}

function buildTarget(svc: Dict): string | undefined {
  const b = svc.build;
  if (typeof b === 'string') return undefined;
  if (isDict(b)) {
    assert.equal(b.context ?? '.', '.', 'build context must be the repo root');
    return typeof b.target === 'string' ? b.target : undefined;
  }
  assert.fail('service must be built from this repository');
}

function isRootUser(user: string | undefined): boolean {
  if (user === undefined || user.trim() === '') return true; // Docker's default user is root
  const name = user.trim().split(':')[0];
  return name === 'root' || name === '0';
}

// ---------------------------------------------------------------------------
// Dockerfile parsing
// ---------------------------------------------------------------------------

interface Instruction {
  keyword: string;
  args: string;
}

interface Stage {
  name: string | undefined;
  base: string;
  user: string | undefined;
  entrypoint: string[];
  cmd: string[];
  healthcheck: string | undefined;
}

function parseInstructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (pending !== '' && line.startsWith('#')) continue; // comments inside continuations
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    const m = /^(\S+)\s*(.*)$/.exec(full);
    if (m) out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.trim() });
  }
  if (pending.trim() !== '') assert.fail('Dockerfile ends inside a line continuation');
  return out;
}

/** Exec form (JSON array) or shell form (`/bin/sh -c ...`) as a token list. */
function commandTokens(args: string): string[] {
  if (args.startsWith('[')) {
    const arr: unknown = JSON.parse(args);
    assert.ok(Array.isArray(arr), `invalid exec form: ${args}`);
    return arr.map(String);
  }
  return ['/bin/sh', '-c', ...args.split(/\s+/).filter(Boolean)];
}

function parseStages(text: string): Stage[] {
  const stages: Stage[] = [];
  let current: Stage | undefined;
  for (const { keyword, args } of parseInstructions(text)) {
    if (keyword === 'FROM') {
      const parts = args.split(/\s+/).filter((p) => !p.startsWith('--'));
      const base = parts[0] ?? '';
      const name = parts[1]?.toUpperCase() === 'AS' ? parts[2] : undefined;
      // A stage built FROM an earlier stage inherits its user, entrypoint, cmd and healthcheck.
      const parent = stages.find((s) => s.name !== undefined && s.name === base);
      current = {
        name,
        base,
        user: parent?.user,
        entrypoint: parent ? [...parent.entrypoint] : [],
        cmd: parent ? [...parent.cmd] : [],
        healthcheck: parent?.healthcheck,
      };
      stages.push(current);
      continue;
    }
    if (!current) continue; // ARG before the first FROM
    if (keyword === 'USER') current.user = args;
    else if (keyword === 'CMD') current.cmd = commandTokens(args);
    else if (keyword === 'ENTRYPOINT') {
      current.entrypoint = commandTokens(args);
      current.cmd = []; // Docker resets an inherited CMD when ENTRYPOINT is set
    } else if (keyword === 'HEALTHCHECK') current.healthcheck = args;
  }
  return stages;
}

const stages = parseStages(dockerfileText);

function stageNamed(name: string | undefined): Stage {
  if (name === undefined) {
    const last = stages.at(-1);
    assert.ok(last, 'Dockerfile has no stages');
    return last;
  }
  const s = stages.find((st) => st.name === name);
  assert.ok(s, `Dockerfile has no stage named ${name}`);
  return s;
}

function runs(stage: Stage): string[] {
  return [...stage.entrypoint, ...stage.cmd];
}

// ---------------------------------------------------------------------------
// docker-compose.yml
// ---------------------------------------------------------------------------

void describe('docker-compose.yml', () => {
  void it('defines redis, server and agents, all restarting unless stopped', () => {
    assert.ok(isDict(services.redis), 'redis service missing');
    assert.ok(isDict(services.server), 'server service missing');
    for (const [name, svc] of Object.entries(services)) {
      assert.equal(dict(svc, name).restart, 'unless-stopped', `${name} restart policy`);
    }
  });

  void it('runs redis 7 with AOF (everysec), hz 100 and noeviction', () => {
    const redis = service('redis');
    assert.match(String(redis.image), /^redis:7(\b|$)/);
    const cmd = tokens(redis.command);
    assert.equal(cmd[0], 'redis-server');
    assert.equal(flagValue(cmd, '--appendonly'), 'yes');
    assert.equal(flagValue(cmd, '--appendfsync'), 'everysec');
    assert.equal(flagValue(cmd, '--hz'), '100');
    assert.equal(flagValue(cmd, '--maxmemory-policy'), 'noeviction');
  });

  void it('lets redis hold 10,000 nodes: maxclients past the server check, open files to match', () => {
    const redis = service('redis');
    const maxClients = Number(flagValue(tokens(redis.command), '--maxclients'));
    assert.ok(maxClients >= neededClients(10_000), `maxclients ${maxClients}`);
    const nofile = dict(dict(redis.ulimits, 'redis ulimits').nofile, 'redis ulimits.nofile');
    // Redis keeps 32 descriptors for itself beside its clients.
    assert.ok(Number(nofile.soft) >= maxClients + 32, `nofile ${String(nofile.soft)}`);
  });

  void it('persists redis /data in a named volume', () => {
    const redis = service('redis');
    const volumes = Array.isArray(redis.volumes) ? redis.volumes.map(String) : [];
    const data = volumes.find((v) => v.split(':')[1] === '/data');
    assert.ok(data, 'redis must mount a volume at /data');
    const volumeName = data.split(':')[0]!;
    assert.ok(
      isDict(compose.volumes) && volumeName in compose.volumes,
      `${volumeName} must be a named volume declared under top-level volumes`,
    );
  });

  void it('health-checks redis with redis-cli ping', () => {
    const hc = dict(service('redis').healthcheck, 'redis healthcheck');
    const test = tokens(hc.test);
    assert.ok(test.includes('redis-cli') && test.includes('ping'), `got ${test.join(' ')}`);
  });

  void it('starts the server only after redis is healthy', () => {
    const dep = dict(dependsOn(service('server')).redis, 'server depends_on.redis');
    assert.equal(dep.condition, 'service_healthy');
  });

  void it('publishes server port 8080', () => {
    const ports = service('server').ports;
    assert.ok(Array.isArray(ports), 'server.ports must be a list');
    const mapped = ports.some((p) =>
      isDict(p)
        ? Number(p.target) === 8080 && Number(p.published) === 8080
        : /^(?:[\d.]+:)?8080:8080(?:\/tcp)?$/.test(String(p)),
    );
    assert.ok(mapped, `expected 8080:8080 in ${JSON.stringify(ports)}`);
  });

  void it('points the server at the redis service', () => {
    const url = new URL(envOf(service('server')).REDIS_URL ?? '');
    assert.equal(url.protocol, 'redis:');
    assert.equal(url.hostname, 'redis');
    assert.ok(url.hostname in services, 'REDIS_URL host must be a compose service');
    assert.equal(url.port || '6379', '6379');
  });

  void it('takes FLEETCMD_API_TOKEN from the environment and fails if unset', () => {
    const token = envOf(service('server')).FLEETCMD_API_TOKEN;
    assert.ok(token !== undefined, 'server must set FLEETCMD_API_TOKEN');
    assert.match(token, /^\$\{FLEETCMD_API_TOKEN:?\?[^}]+\}$/);
  });

  void it('health-checks the server via /healthz', () => {
    const hc = dict(service('server').healthcheck, 'server healthcheck');
    assert.match(tokens(hc.test).join(' '), /\/healthz/);
  });

  void it('builds the server from a non-root Dockerfile stage', () => {
    const server = service('server');
    assert.ok(!('user' in server) || !isRootUser(String(server.user)), 'server must not be root');
    const stage = stageNamed(buildTarget(server));
    assert.ok(!isRootUser(stage.user), `server stage runs as ${stage.user ?? 'root (default)'}`);
    assert.ok(runs(stage).includes('server'), `server stage runs ${runs(stage).join(' ')}`);
  });

  void describe('agents', () => {
    const agentNames = Object.keys(services).filter((n) => {
      const svc = services[n];
      return isDict(svc) && envOf(svc).FLEETCMD_NODE_ID !== undefined;
    });

    void it('has exactly two agents with node ids n1 and n2', () => {
      assert.equal(agentNames.length, 2, `agents: ${agentNames.join(', ')}`);
      const ids = agentNames.map((n) => envOf(service(n)).FLEETCMD_NODE_ID).sort();
      assert.deepEqual(ids, ['n1', 'n2']);
    });

    void it('runs each agent as root, with matching hostname, node id and agent command', () => {
      assert.ok(agentNames.length > 0);
      for (const name of agentNames) {
        const svc = service(name);
        const id = envOf(svc).FLEETCMD_NODE_ID;
        assert.equal(svc.user, 'root', `${name} must run as root to switch users`);
        assert.equal(svc.hostname, id, `${name} hostname`);
        assert.equal(envOf(svc).REDIS_URL, 'redis://redis:6379', `${name} REDIS_URL`);
        const cmd =
          svc.command !== undefined ? tokens(svc.command) : runs(stageNamed(buildTarget(svc)));
        assert.ok(cmd.includes('agent'), `${name} runs ${cmd.join(' ')}`);
        const flagId = flagValue(cmd, '--node-id');
        if (flagId !== undefined) assert.equal(flagId, id, `${name} --node-id vs FLEETCMD_NODE_ID`);
      }
    });

    void it('starts agents after redis is healthy and the server has started', () => {
      assert.ok(agentNames.length > 0);
      for (const name of agentNames) {
        const deps = dependsOn(service(name));
        assert.equal(dict(deps.redis, `${name} depends_on.redis`).condition, 'service_healthy');
        assert.ok('server' in deps, `${name} must depend on server`);
        const cond = isDict(deps.server) ? deps.server.condition : undefined;
        assert.ok(
          cond === undefined || cond === 'service_started' || cond === 'service_healthy',
          `${name} depends_on.server condition ${String(cond)}`,
        );
      }
    });
  });
});

// ---------------------------------------------------------------------------
// Dockerfile
// ---------------------------------------------------------------------------

void describe('Dockerfile', () => {
  void it('is multi-stage on node:20-bookworm-slim', () => {
    assert.ok(stages.length >= 2, `expected >= 2 FROM stages, got ${stages.length}`);
    const external = stages.filter((s) => !stages.some((o) => o.name === s.base));
    const defaultImage = /^ARG\s+NODE_IMAGE=(\S+)/m.exec(dockerfileText)?.[1];
    for (const s of external) {
      const image = s.base === '${NODE_IMAGE}' ? defaultImage : s.base;
      assert.equal(image, 'node:20-bookworm-slim', `stage ${s.name ?? '?'} base`);
    }
  });

  void it('builds with npm ci --ignore-scripts, npm run build and prunes dev deps', () => {
    const runLines = parseInstructions(dockerfileText)
      .filter((i) => i.keyword === 'RUN')
      .map((i) => i.args);
    assert.ok(runLines.some((r) => /npm ci\b.*--ignore-scripts/.test(r)));
    assert.ok(runLines.some((r) => /npm run build\b/.test(r)));
    assert.ok(runLines.some((r) => /npm prune\b.*--omit=dev/.test(r)));
  });

  void it('copies into the build stage every script `npm run build` runs', () => {
    const pkg = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as { scripts: Record<string, string> };
    const scripts = [...(pkg.scripts.build ?? '').matchAll(/node (scripts\/\S+)/g)].map(
      (m) => m[1],
    );
    assert.ok(scripts.length > 0, 'the build runs the agent bundle script');
    const copied = parseInstructions(dockerfileText)
      .filter((i) => i.keyword === 'COPY')
      .map((i) => i.args.split(/\s+/)[0]);
    for (const s of scripts) {
      assert.ok(
        copied.some((c) => c === s || c === 'scripts' || c === '.'),
        `${s} is not copied`,
      );
    }
  });

  void it('runs the server (default target) as a non-root user', () => {
    const last = stageNamed(undefined);
    assert.ok(!isRootUser(last.user), `final stage runs as ${last.user ?? 'root (default)'}`);
    const cmd = runs(last);
    assert.ok(cmd.includes('bin/fleetcmd.js'), `final stage runs ${cmd.join(' ')}`);
    assert.equal(cmd.at(cmd.indexOf('bin/fleetcmd.js') + 1), 'server');
  });

  void it('declares a HEALTHCHECK on /healthz for the server, exposes 8080, NODE_ENV=production', () => {
    const last = stageNamed(undefined);
    assert.ok(last.healthcheck, 'server stage has no HEALTHCHECK');
    assert.doesNotMatch(last.healthcheck, /^NONE$/i);
    assert.match(last.healthcheck, /\/healthz/);
    assert.match(dockerfileText, /^EXPOSE\s+8080\b/m);
    assert.match(dockerfileText, /^ENV\s+NODE_ENV=production\b/m);
  });

  void it('has an agent stage that runs the agent as root', () => {
    const agent = stageNamed('agent');
    assert.ok(isRootUser(agent.user), `agent stage runs as ${agent.user ?? ''}`);
    const cmd = runs(agent);
    assert.equal(cmd.at(cmd.indexOf('bin/fleetcmd.js') + 1), 'agent');
  });
});

void describe('docker-compose.yml shutdown', () => {
  void it('gives agents longer than their 30 s drain grace before Docker kills them', () => {
    for (const name of ['agent1', 'agent2']) {
      const grace = String(service(name).stop_grace_period ?? '10s');
      const seconds = Number(/^(\d+)s$/.exec(grace)?.[1] ?? 0);
      assert.ok(seconds > 30, `${name} stop_grace_period ${grace}`);
    }
    const server = String(service('server').stop_grace_period ?? '10s');
    assert.ok(Number(/^(\d+)s$/.exec(server)?.[1] ?? 0) > 10, `server stop_grace_period ${server}`);
  });
});
