import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import OpenApiUtil from '@alicloud/openapi-util';
import fc from 'fast-check';
import {
  acs3CanonicalRequest,
  acs3Signature,
  canonicalQuery,
  nonceTtlMs,
  parseAcs3Authorization,
  parseSignedDate,
  percentEncode,
  rpcSha1Signature,
  sha256Hex,
  SIGNATURE_WINDOW_MS,
} from '../../src/api/rpc/signature.js';

// The vendor's own signing code (what its SDKs call), to check fleetcmd's verifier against.
const Util = OpenApiUtil.default;

const paramName = fc.stringMatching(/^[A-Za-z][A-Za-z0-9]{0,10}(\.[1-9])?$/);
const paramValue = fc.string({ unit: 'grapheme', maxLength: 30 });
const params = fc.dictionary(paramName, paramValue, { maxKeys: 8 });

void describe('percentEncode', () => {
  void it('leaves only unreserved characters as they are (RFC 3986)', () => {
    assert.equal(percentEncode("a b*c~d!e'(f)+/="), 'a%20b%2Ac~d%21e%27%28f%29%2B%2F%3D');
    assert.equal(percentEncode('é'), '%C3%A9');
  });
});

void describe('ACS3-HMAC-SHA256', () => {
  void it('signs every request as the vendor SDK does (property)', () => {
    fc.assert(
      fc.property(
        params,
        fc.constantFrom('GET', 'POST'),
        fc.string({ minLength: 8, maxLength: 40 }),
        fc.string({ maxLength: 40 }),
        (query, method, secret, body) => {
          const headers: Record<string, string> = {
            host: '127.0.0.1:8080',
            'x-acs-action': 'RunCommand',
            'x-acs-version': '2014-05-26',
            'x-acs-date': '2024-01-02T03:04:05Z',
            'x-acs-signature-nonce': 'abc123',
            'x-acs-content-sha256': sha256Hex(body),
          };
          const sdk = Util.getAuthorization(
            { pathname: '/', method, query, headers } as unknown as Parameters<
              typeof Util.getAuthorization
            >[0],
            'ACS3-HMAC-SHA256',
            sha256Hex(body),
            'AKID',
            secret,
          );
          const auth = parseAcs3Authorization(sdk);
          assert.ok(typeof auth !== 'string', String(auth));
          const canonical = acs3CanonicalRequest({
            method,
            path: '/',
            query: Object.entries(query),
            headers,
            signedHeaders: auth.signedHeaders,
            payloadHash: sha256Hex(body),
          });
          assert.equal(acs3Signature(secret, canonical), auth.signature);
          assert.equal(auth.accessKeyId, 'AKID');
        },
      ),
    );
  });

  void it('a changed secret, parameter or header gives another signature', () => {
    const base = {
      method: 'POST',
      path: '/',
      query: [['InstanceId.1', 'n1'] as const],
      headers: { host: 'h', 'x-acs-date': 'd' },
      signedHeaders: ['host', 'x-acs-date'],
      payloadHash: sha256Hex(''),
    };
    const sig = acs3Signature('secret-one-xxxxxxxx', acs3CanonicalRequest(base));
    assert.notEqual(acs3Signature('secret-two-xxxxxxxx', acs3CanonicalRequest(base)), sig);
    assert.notEqual(
      acs3Signature(
        'secret-one-xxxxxxxx',
        acs3CanonicalRequest({ ...base, query: [['InstanceId.1', 'n2'] as const] }),
      ),
      sig,
    );
    assert.notEqual(
      acs3Signature(
        'secret-one-xxxxxxxx',
        acs3CanonicalRequest({ ...base, headers: { host: 'other', 'x-acs-date': 'd' } }),
      ),
      sig,
    );
  });

  void it('parses the Authorization header, and names what is wrong with a bad one', () => {
    const ok = parseAcs3Authorization(
      `ACS3-HMAC-SHA256 Credential=K1,SignedHeaders=host;x-acs-date,Signature=${'a'.repeat(64)}`,
    );
    assert.deepEqual(ok, {
      accessKeyId: 'K1',
      signedHeaders: ['host', 'x-acs-date'],
      signature: 'a'.repeat(64),
    });
    const bad: [string, RegExp][] = [
      ['Bearer xyz', /must start with ACS3-HMAC-SHA256/],
      ['ACS3-HMAC-SHA256 SignedHeaders=host,Signature=' + 'a'.repeat(64), /no Credential/],
      ['ACS3-HMAC-SHA256 Credential=K,Signature=' + 'a'.repeat(64), /no SignedHeaders/],
      ['ACS3-HMAC-SHA256 Credential=K,SignedHeaders=host,Signature=xyz', /64 hex digits/],
      ['ACS3-HMAC-SHA256 Credential=K,garbage', /malformed part/],
    ];
    for (const [header, why] of bad) {
      const r = parseAcs3Authorization(header);
      assert.equal(typeof r, 'string', header);
      assert.match(r as string, why);
    }
  });
});

void describe('RPC HMAC-SHA1', () => {
  void it('signs every parameter set as the vendor SDK does (property)', () => {
    fc.assert(
      fc.property(
        params,
        fc.constantFrom('GET', 'POST'),
        fc.string({ maxLength: 40 }),
        (p, method, secret) => {
          assert.equal(
            rpcSha1Signature(method, Object.entries(p), secret),
            Util.getRPCSignature({ ...p }, method, secret),
          );
        },
      ),
    );
  });

  void it('the canonical query sorts by name and encodes names and values', () => {
    assert.equal(
      canonicalQuery([
        ['b', '2 3'],
        ['a', '*'],
        ['InstanceId.1', 'n1'],
      ]),
      'InstanceId.1=n1&a=%2A&b=2%203',
    );
  });
});

void describe('dates and nonces', () => {
  void it('takes UTC ISO-8601 with seconds, and nothing else', () => {
    assert.equal(parseSignedDate('2024-01-02T03:04:05Z'), Date.UTC(2024, 0, 2, 3, 4, 5));
    assert.equal(parseSignedDate('2024-01-02T03:04:05.120Z'), Date.UTC(2024, 0, 2, 3, 4, 5, 120));
    for (const bad of ['2024-01-02 03:04:05', '2024-01-02T03:04:05+01:00', 'yesterday', '']) {
      assert.equal(parseSignedDate(bad), undefined, bad);
    }
  });

  void it('keeps a nonce until its date leaves the window', () => {
    const now = 1_000_000_000;
    assert.equal(nonceTtlMs(now, now), SIGNATURE_WINDOW_MS);
    assert.equal(nonceTtlMs(now + 60_000, now), SIGNATURE_WINDOW_MS + 60_000);
    assert.equal(nonceTtlMs(now - SIGNATURE_WINDOW_MS, now), 1000);
  });
});
