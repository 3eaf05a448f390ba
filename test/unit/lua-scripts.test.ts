import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { SCRIPT_REPLIES, type ScriptName } from '../../src/domain/run-replies.js';
import { HISTORY_SUFFIXES, Keys } from '../../src/store/keys.js';
import { keySlot } from '../../src/store/key-slot.js';
import {
  PRELUDE_FILE,
  SCRIPTS,
  loadScripts,
  preludeFor,
  type LoadedScript,
  type ScriptKeyIds,
} from '../../src/store/scripts.js';

const LUA_DIR = new URL('../../src/store/lua/', import.meta.url);

/** The first `--[[ ... ]]` block: the script's header. */
function header(source: string): string {
  const m = /^--\[\[([\s\S]*?)\]\]/.exec(source);
  assert.ok(m?.[1], 'the file opens with a --[[ ... ]] header');
  return m[1];
}

/** The numbers n of every `NAME[n]` in `text` (`listed`: only those opening a line). */
function indexes(text: string, name: 'KEYS' | 'ARGV', listed = false): number[] {
  const re = listed ? `^\\s*${name}\\[(\\d+)\\]` : `\\b${name}\\[(\\d+)\\]`;
  return [...text.matchAll(new RegExp(re, 'gm'))].map((m) => Number(m[1]));
}

const RUNS: [string, string][] = [
  ['n1', 'inv-1'],
  ['i-0123456789abcdef', '0193a5b2-7c1d-7e3f-9a4b-5c6d7e8f9a0b'],
];
const NODES: [string][] = [['n1'], ['host.example.com']];
const FIRES: [string, string][] = [
  ['inv-1', ''],
  ['0193a5b2-7c1d-7e3f-9a4b-5c6d7e8f9a0b', 'f1733475600000'],
];
const COMMANDS: [string][] = [['c-1'], ['0193a5b2-7c1d-7e3f-9a4b-5c6d7e8f9a0b']];
const ACTIVATIONS: [string][] = [['4ECEEE12-56F1-4FBC-9AB1-890F12345678']];

/** Ids every script's keys are built from in the test below, a few of each kind. */
const SAMPLES: { [K in ScriptName]: ScriptKeyIds<K>[] } = {
  runCreate: RUNS,
  runFire: RUNS,
  runClaim: RUNS,
  runSpawned: RUNS,
  runProgress: RUNS,
  runFinish: RUNS,
  runStop: RUNS,
  runAbort: RUNS,
  runInterrupt: RUNS,
  runLost: RUNS,
  invCreate: [
    ['inv-1', 'a1'],
    ['0193a5b2-7c1d-7e3f-9a4b-5c6d7e8f9a0b', '0123456789abcdef'],
  ],
  invPublish: [['command'], ['file']],
  invFold: FIRES,
  roInit: FIRES,
  roStep: FIRES,
  nodeIndexAdd: NODES,
  cmdCreate: COMMANDS,
  cmdModify: COMMANDS,
  cmdInvoked: COMMANDS,
  nodeRegister: NODES,
  nodeHeartbeat: NODES,
  nodeStopped: NODES,
  nodeLost: NODES,
  evCreated: [['t-1'], ['0193a5b2-7c1d-7e3f-9a4b-5c6d7e8f9a0b']],
  evFinished: [['t-1'], ['0193a5b2-7c1d-7e3f-9a4b-5c6d7e8f9a0b']],
  evRelay: [[]],
  nodeTags: [[]],
  hashRead: [['fc:node:{n1}:run:inv-1'], ['fc:node:{n1}:info']],
  listRead: [['fc:node:{n1}:run:inv-1:hist']],
  auditAppend: [[]],
  actReserve: ACTIVATIONS,
  actRelease: ACTIVATIONS,
  actDelete: ACTIVATIONS,
  actDisable: ACTIVATIONS,
  whCreate: [['wh-0123456789abcdef']],
  whDelete: [['wh-0123456789abcdef']],
  whFanout: [[]],
  dlLease: [[]],
};

function keysOf(s: LoadedScript, keys: Keys, ids: unknown[]): string[] {
  const build = SCRIPTS[s.name].keys as (k: Keys, ...ids: unknown[]) => string[];
  return build(keys, ...ids);
}

void describe('keySlot', () => {
  void it('agrees with CLUSTER KEYSLOT of a cluster-mode redis-server 7', () => {
    // Asked of `redis-server --cluster-enabled yes` when this test was written.
    const known: [string, number][] = [
      ['', 0],
      ['foo', 12182],
      ['somekey', 11058],
      ['123456789', 12739],
      ['{user1000}.following', 3443],
      ['foo{}{bar}', 8363],
      ['foo{{bar}}zap', 4015],
      ['foo{bar}{zap}', 5061],
      ['fc:node:{n1}:run:abc', 3671],
      ['fc:{global}:invocations', 10408],
      ['{sched}', 7021],
    ];
    for (const [key, slot] of known) assert.equal(keySlot(key), slot, key);
  });
});

void describe('Lua scripts', () => {
  const scripts = loadScripts();

  void it('every .lua file is registered, and every registered script has a file', () => {
    const files = readdirSync(LUA_DIR).filter((f) => f.endsWith('.lua'));
    assert.deepEqual(files.sort(), scripts.map((s) => s.file).sort());
    assert.deepEqual(readdirSync(new URL('includes/', LUA_DIR)), [PRELUDE_FILE.split('/')[1]]);
    assert.deepEqual(Object.keys(SCRIPTS).sort(), Object.keys(SCRIPT_REPLIES).sort());
  });

  void it('no Lua is left inline, and only the loader sends scripts', () => {
    let files = 0;
    for (const dir of ['src/', 'workers/']) {
      const root = new URL(`../../${dir}`, import.meta.url);
      for (const f of readdirSync(root, { recursive: true, encoding: 'utf8' })) {
        if (!f.endsWith('.ts')) continue;
        files++;
        const text = readFileSync(new URL(f, root), 'utf8');
        assert.doesNotMatch(text, /\b(KEYS|ARGV)\[\d|redis\.pcall\(/, `Lua in ${dir}${f}`);
        if (`${dir}${f}` === 'src/store/scripts.ts') continue;
        assert.doesNotMatch(
          text,
          /\.(eval|evalsha|defineCommand)\(/,
          `a script sent by ${dir}${f}`,
        );
      }
    }
    assert.ok(files > 50, `${files} files read`);
  });

  for (const s of scripts) {
    void describe(s.file, () => {
      void it('lists in its header KEYS[1..n] for the n keys it is defined with', () => {
        const head = header(s.source);
        const listed = indexes(head, 'KEYS', true);
        assert.deepEqual(
          listed,
          Array.from({ length: s.numberOfKeys }, (_, i) => i + 1),
        );
        const body = s.source.slice(s.source.indexOf(']]') + 2);
        assert.ok(Math.max(0, ...indexes(body, 'KEYS')) <= s.numberOfKeys, 'no KEYS[n] past n');
        const argv = indexes(head, 'ARGV', true);
        assert.deepEqual(
          argv,
          Array.from({ length: argv.length }, (_, i) => i + 1),
          'ARGV 1..m',
        );
        // ARGV[m...] in a header: field/value pairs from m on, which the body may index past.
        if (!/ARGV\[\d+\.\.\.\]/.test(head)) {
          assert.ok(Math.max(0, ...indexes(body, 'ARGV')) <= argv.length, 'every ARGV listed');
        }
        assert.match(head, /\n\s*Output:\n/);
      });

      void it('is called with keys of one hash slot', () => {
        const keys = new Keys('fc');
        for (const ids of SAMPLES[s.name]) {
          const built = keysOf(s, keys, ids);
          assert.equal(built.length, s.numberOfKeys, `${s.file} ${ids.join(',')}`);
          const slots = new Set(built.map(keySlot));
          assert.equal(slots.size, 1, `${built.join(' ')} span slots ${[...slots].join(', ')}`);
        }
      });
    });
  }

  void it('keys the scripts derive from their KEYS and ARGV stay in the same slot', () => {
    const keys = new Keys('fc');
    for (const [nodeId, invokeId] of RUNS) {
      const slot = keySlot(keys.nodeRun(nodeId, invokeId));
      // run-create-4 and node-index-add-1: a node's run key prefix .. invokeId.
      assert.equal(keySlot(keys.nodeRun(nodeId, '') + invokeId), slot);
      assert.equal(keySlot(keys.nodeInvocations(nodeId)), slot);
      // settle (prelude): the run key .. HISTORY_LIST / HISTORY_ENTRY .. seq.
      assert.equal(keySlot(keys.runHistory(nodeId, invokeId)), slot);
      assert.equal(keySlot(keys.runHistoryEntry(nodeId, invokeId, 7)), slot);
      // ev-relay-3: the progress key prefix .. invokeId, in the event stream's slot.
      assert.equal(keySlot(keys.invocationEvents('') + invokeId), keySlot(keys.events()));
      assert.equal(keys.invocationEvents('') + invokeId, keys.invocationEvents(invokeId));
    }
  });

  void it("the prelude's history suffixes are keys.ts's", () => {
    const prelude = readFileSync(new URL(PRELUDE_FILE, LUA_DIR), 'utf8');
    assert.match(prelude, new RegExp(`\\nlocal HISTORY_LIST = '${HISTORY_SUFFIXES.list}'\\n`));
    assert.match(prelude, new RegExp(`\\nlocal HISTORY_ENTRY = '${HISTORY_SUFFIXES.entry}'\\n`));
    for (const s of scripts) assert.ok(s.lua.startsWith(preludeFor(prelude, s.source)), s.file);
  });

  void it("reads Redis's clock (TIME) only in scripts that need it, and every helper that needs it counts", () => {
    const prelude = readFileSync(new URL(PRELUDE_FILE, LUA_DIR), 'utf8');
    const TIME = "redis.call('TIME')";
    const script = (body: string) => `--[[ header ]]\n${body}\n`;
    assert.ok(preludeFor(prelude, script('return NOW')).includes(TIME));
    assert.ok(!preludeFor(prelude, script("return redis.call('GET', KEYS[1])")).includes(TIME));
    // Each helper whose body reads the clock: a script calling it keeps the TIME call.
    const helpers = [...prelude.matchAll(/^local function (\w+)\(([^]*?)^end$/gm)];
    assert.ok(helpers.length >= 4, `${helpers.length} helpers found`);
    for (const [, name = '', body = ''] of helpers) {
      if (!/\bNOW\b|\bt\[/.test(body)) continue;
      assert.ok(preludeFor(prelude, script(`${name}(KEYS[1])`)).includes(TIME), name);
    }
    const clockless = scripts.filter((s) => !s.lua.includes(TIME)).map((s) => s.file);
    for (const f of ['ev-relay-3.lua', 'inv-fold-6.lua', 'hash-read-1.lua', 'dl-lease-1.lua']) {
      assert.ok(clockless.includes(f), f);
    }
    for (const f of ['run-claim-3.lua', 'run-create-4.lua', 'node-tags-1.lua']) {
      assert.ok(!clockless.includes(f), f);
    }
  });
});
