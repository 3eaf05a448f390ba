import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { ACTIONS, writesState } from '../../src/api/actions/registry.js';
import { mayCall } from '../../src/api/plugins/auth.js';
import { auditDetails } from '../../src/domain/audit.js';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

void describe('which actions are audited', () => {
  void it('every action but the Describe* and List* ones writes, and so is audited', () => {
    for (const name of Object.keys(ACTIONS)) {
      const reads = name.startsWith('Describe') || name.startsWith('List');
      assert.equal(writesState(name), !reads, name);
    }
    assert.equal(writesState('NoSuchAction'), false);
    assert.equal(writesState('toString'), false);
  });

  void it('a read token may not read the audit trail; a run token may', () => {
    assert.equal(mayCall('read', 'DescribeAuditEvents'), false);
    assert.equal(mayCall('run', 'DescribeAuditEvents'), true);
    assert.equal(mayCall('read', 'DescribeInvocations'), true);
  });
});

void describe('auditDetails', () => {
  void it('keeps targets and digests, never values or other fields', () => {
    const nodes = Array.from({ length: 14 }, (_, i) => `n${i}`);
    const d = auditDetails(
      {
        NodeIdList: nodes,
        CommandContent: Buffer.from('echo secret').toString('base64'),
        ContentEncoding: 'Base64',
        Parameters: { b: 'two', a: 1 },
        Name: 'name-kept-out',
        WorkingDir: '/srv/kept-out',
        ResourceTag: [{ Key: 'env', Value: 'prod' }, { Key: 'role' }, 'junk'],
      },
      { InvokeId: 't-1', RequestId: 'R' },
    );
    assert.deepEqual(d, {
      NodeIds: nodes.slice(0, 10),
      NodeCount: 14,
      ResourceTag: [{ Key: 'env', Value: 'prod' }, { Key: 'role' }],
      CommandContentSha256: sha256('echo secret'),
      Parameters: [
        { Name: 'a', Sha256: sha256('1') },
        { Name: 'b', Sha256: sha256('two') },
      ],
      InvokeId: 't-1',
    });
  });

  void it('hashes SendFile content as bytes and takes ids from the request when the answer has none', () => {
    assert.deepEqual(auditDetails({ Content: 'file', InvokeId: 't-2' }, {}), {
      ContentSha256: sha256('file'),
      InvokeId: 't-2',
    });
    assert.deepEqual(auditDetails(undefined, 'not json'), {});
  });
});
