import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SCRIPT_REPLIES, ScriptReplyError, type ScriptName } from '../../src/domain/run-replies.js';

/** Parses `raw` as script `name` would answer it (the loader names the script by its file). */
function parse(name: ScriptName, raw: unknown): unknown {
  return SCRIPT_REPLIES[name](`${name}.lua`, raw);
}

/** Replies each script may give, and what they parse into. */
const GOOD: [ScriptName, unknown, unknown][] = [
  ['runCreate', 'Created', 'Created'],
  ['runCreate', 'Scheduled', 'Scheduled'],
  ['runFire', 'Fired', { outcome: 'Fired' }],
  ['runFire', 'Already', { outcome: 'Already' }],
  ['runFire', 'Skipped', { outcome: 'Skipped' }],
  ['runFire', 'Ended', { outcome: 'Ended' }],
  ['runFire', 'Stale', { outcome: 'Stale' }],
  ['runFire', 'Missing', { outcome: 'Missing' }],
  ['runFire', 'Waiting f1700000000000', { outcome: 'Waiting', olderFire: 'f1700000000000' }],
  ['runFire', 'Waiting b0123456789abcdef', { outcome: 'Waiting', olderFire: 'b0123456789abcdef' }],
  // A Pending record without a fire (a one-off run's) answers 'Waiting ' .. ''.
  ['runFire', 'Waiting ', { outcome: 'Waiting', olderFire: '' }],
  // The record counted the late fire job's own, passed-over slot as skipped.
  ['runFire', 'Fired passedOver', { outcome: 'Fired', countedPassedOver: true }],
  ['runFire', 'Skipped passedOver', { outcome: 'Skipped', countedPassedOver: true }],
  [
    'runFire',
    'Waiting f1700000000000 passedOver',
    { outcome: 'Waiting', olderFire: 'f1700000000000', countedPassedOver: true },
  ],
  [
    'runFire',
    'Waiting  passedOver',
    { outcome: 'Waiting', olderFire: '', countedPassedOver: true },
  ],
  ['runClaim', 'Claimed', 'Claimed'],
  ['runClaim', 'Superseded', 'Superseded'],
  ['runClaim', 'Missing', 'Missing'],
  ['runClaim', 'Cancelled', 'Cancelled'],
  ['runClaim', 'Armed', 'Armed'],
  ['runSpawned', 'Running', 'Running'],
  ['runSpawned', 'Stopping', 'Stopping'],
  ['runSpawned', 'Other', 'Other'],
  ['runSpawned', 'Aborted', 'Aborted'],
  ['runProgress', 'Running', 'Running'],
  ['runProgress', 'Stopping', 'Stopping'],
  ['runProgress', 'Missing', 'Missing'],
  ['runFinish', 'Success', 'Success'],
  ['runFinish', 'Terminated', 'Terminated'],
  ['runFinish', 'Missing', 'Missing'],
  ['runStop', 'Cancelled', 'Cancelled'],
  ['runStop', 'Stopping', 'Stopping'],
  ['runStop', 'Success', 'Success'],
  ['runAbort', 'Aborted', 'Aborted'],
  ['runAbort', 'Superseded', 'Superseded'],
  ['runAbort', 'Running', 'Running'],
  ['runInterrupt', 'Error', 'Error'],
  ['runInterrupt', 'Terminated', 'Terminated'],
  ['runInterrupt', 'Mine', 'Mine'],
  ['runInterrupt', 'Missing', 'Missing'],
  ['invCreate', '1 1700000000123', { created: true, createdMs: 1700000000123 }],
  ['invCreate', '0 1700000000123', { created: false, createdMs: 1700000000123 }],
  ['invCreate', '0 0', { created: false, createdMs: 0 }],
  ['invPublish', 0, 0],
  ['invPublish', 500, 500],
  ['invFold', 'Folded', 'Folded'],
  ['invFold', 'Rollout', 'Rollout'],
  ['invFold', 'Already', 'Already'],
  ['roInit', 1, true],
  ['roInit', 0, false],
  ['roStep', ['None'], { kind: 'None' }],
  [
    'roStep',
    ['Release', 0, 0, 'n1', 'n2'],
    { kind: 'Release', from: 0, done: false, nodeIds: ['n1', 'n2'] },
  ],
  ['roStep', ['Cancel', 4, 1], { kind: 'Cancel', from: 4, done: true, nodeIds: [] }],
  ['nodeIndexAdd', 100, 100],
  ['cmdCreate', '1700000000123', 1700000000123],
  ['cmdModify', '1', true],
  ['cmdModify', '0', false],
  ['cmdInvoked', '0', 0],
  ['cmdInvoked', '42', 42],
  ['nodeRegister', '', ''],
  ['nodeRegister', 'boot-1', 'boot-1'],
  ['auditAppend', '1700000000123-0', '1700000000123-0'],
  ['nodeHeartbeat', '1700000000123', 1700000000123],
  ['nodeStopped', '1700000000123', 1700000000123],
  ['evCreated', '1700000000123-0', '1700000000123-0'],
  ['evCreated', '', ''],
  ['evFinished', '1700000000123-0', '1700000000123-0'],
  ['evFinished', '', ''],
  ['evFinished', 'wait', 'wait'],
  ['nodeLost', '1', true],
  ['nodeLost', '0', false],
  ['evRelay', '0 0', { copied: 0, finished: 0 }],
  ['evRelay', '12 3', { copied: 12, finished: 3 }],
  ['nodeTags', 3, 3],
  ['nodeTags', -1, -1],
  ['actReserve', 'Reserved', 'Reserved'],
  ['actReserve', 'Full', 'Full'],
  ['actRelease', 1, true],
  ['actRelease', 0, false],
  ['actDelete', 'InUse', 'InUse'],
  ['actDisable', 1, true],
  ['whCreate', 'Full', 'Full'],
  ['whDelete', 0, false],
  ['whFanout', 'wh-1,wh-2', 'wh-1,wh-2'],
  ['dlLease', [], []],
  ['dlLease', ['o t-1', 'n t-2 f1 n1 n2'], ['o t-1', 'n t-2 f1 n1 n2']],
  [
    'hashRead',
    [Buffer.from('Success'), null, 70_000_000],
    [Buffer.from('Success'), undefined, 70_000_000],
  ],
  ['hashRead', [], []],
  ['listRead', [Buffer.from('3'), 40], [Buffer.from('3'), 40]],
  ['runLost', 'Ended Error', { outcome: 'Ended', status: 'Error' }],
  ['runLost', 'Ended Terminated', { outcome: 'Ended', status: 'Terminated' }],
  ['runLost', 'Alive', { outcome: 'Alive' }],
  ['runLost', 'Missing', { outcome: 'Left', status: 'Missing' }],
  ['runLost', 'Success', { outcome: 'Left', status: 'Success' }],
  ['runLost', 'Scheduled', { outcome: 'Left', status: 'Scheduled' }],
];

/** Replies no script gives: each is an error naming the script and the reply. */
const BAD: [ScriptName, unknown][] = [
  ['hashRead', 'Success'],
  ['hashRead', ['Success']],
  ['listRead', [1.5]],
  ['runCreate', 'Creat'],
  ['runCreate', null],
  ['runFire', 'Waiting'],
  // Only a fire that moved the record on can have counted a passed-over slot.
  ['runFire', 'Already passedOver'],
  ['runFire', 'Stale passedOver'],
  ['runFire', ' passedOver'],
  ['runFire', 'fired'],
  ['runFire', 1],
  ['runClaim', 'Mine'],
  ['runClaim', ''],
  ['runSpawned', 1],
  ['runSpawned', 'Claimed'],
  ['runProgress', null],
  ['runProgress', 'Claimed'],
  ['runFinish', 'Done'],
  ['runStop', 'Missing'],
  ['runAbort', 'Mine'],
  ['runInterrupt', 'Superseded'],
  ['runLost', 'Ended'],
  ['runLost', 'Ended Success'],
  ['runLost', 'Mine'],
  ['runLost', 1],
  ['invCreate', '1'],
  ['invCreate', '2 17'],
  ['invCreate', '1 17 x'],
  ['invCreate', 1],
  ['invPublish', '3'],
  ['invPublish', 1.5],
  ['invFold', 'Success'],
  ['roInit', '1'],
  ['roStep', []],
  ['roStep', ['Release', '0', 0]],
  ['roStep', ['Cancel', 0, 2]],
  ['roStep', ['Stop', 0, 0]],
  ['nodeIndexAdd', null],
  ['cmdCreate', ''],
  ['cmdCreate', '17.5'],
  ['cmdCreate', 17],
  ['cmdModify', 1],
  ['cmdModify', 'true'],
  ['cmdInvoked', '-1'],
  ['nodeRegister', null],
  ['evCreated', 7],
  ['evFinished', null],
  ['evFinished', 3],
  ['nodeLost', 1],
  ['evRelay', ''],
  ['evRelay', '1-2 1'],
  ['evRelay', null],
  ['auditAppend', null],
  ['nodeRegister', 0],
  ['nodeHeartbeat', 'now'],
  ['nodeStopped', null],
  ['nodeTags', '3'],
  ['actReserve', 'Registered'],
  ['actRelease', '1'],
  ['actDelete', 1],
  ['actDisable', 'yes'],
  ['whCreate', 'Made'],
  ['whDelete', '1'],
  ['whFanout', null],
  ['dlLease', null],
  ['dlLease', ['o t-1', 7]],
];

void describe('run replies', () => {
  for (const [name, raw, want] of GOOD) {
    void it(`${name}: ${JSON.stringify(raw)}`, () => {
      assert.deepEqual(parse(name, raw), want);
    });
  }

  for (const [name, raw] of BAD) {
    void it(`${name} rejects ${JSON.stringify(raw)}`, () => {
      assert.throws(
        () => parse(name, raw),
        (err: unknown) => {
          assert.ok(err instanceof ScriptReplyError);
          assert.equal(err.script, `${name}.lua`);
          assert.equal(err.reply, raw);
          assert.ok(err.message.includes(`${name}.lua`), err.message);
          assert.ok(err.message.includes(JSON.stringify(raw)), err.message);
          return true;
        },
      );
    });
  }

  void it('every script has good and bad replies in these tables', () => {
    const names = Object.keys(SCRIPT_REPLIES).sort();
    assert.deepEqual([...new Set(GOOD.map(([n]) => n))].sort(), names);
    assert.deepEqual([...new Set(BAD.map(([n]) => n))].sort(), names);
  });
});
