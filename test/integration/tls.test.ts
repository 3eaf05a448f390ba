/**
 * HTTPS on the API: with FLEETCMD_TLS_CERT and FLEETCMD_TLS_KEY the server speaks TLS with a
 * certificate made here (openssl); clients verify it against FLEETCMD_CA (the CLI) or refuse it;
 * SIGHUP loads a new certificate without dropping the listener, and a new connection sees it.
 * The agent refuses to register over plain HTTP to another machine.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { postJson } from '../../src/shared/http-post.js';
import { hangBound } from '../helpers/hang.js';
import { makeStack, runCli, type Stack } from '../helpers/stack.js';

/** A self-signed certificate for 127.0.0.1 (its own CA): PEM cert and key. */
function selfSigned(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
}

/** The fingerprint of the certificate a new connection to the server is shown. */
function servedFingerprint(url: string): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect({ host: u.hostname, port: Number(u.port), rejectUnauthorized: false }, () => {
      const fp = s.getPeerX509Certificate()?.fingerprint256 ?? '';
      s.end();
      resolve(fp);
    });
    s.on('error', reject);
  });
}

void describe('HTTPS on the API', () => {
  let stack: Stack;
  let dir: string;
  const certFile = () => join(dir, 'server.crt');
  const keyFile = () => join(dir, 'server.key');

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fc-tls-'));
    const first = selfSigned(dir, 'first');
    writeFileSync(certFile(), first.cert);
    writeFileSync(keyFile(), first.key);
    stack = await makeStack({ FLEETCMD_TLS_CERT: certFile(), FLEETCMD_TLS_KEY: keyFile() });
  });
  after(async () => {
    await stack.close();
    rmSync(dir, { recursive: true, force: true });
  });

  void it('serves HTTPS that verifies against the CA and is refused without it', async () => {
    assert.match(stack.url, /^https:\/\//);
    const ca = readFileSync(certFile(), 'utf8');
    const auth = { authorization: `Bearer ${stack.token}` };
    const ok = await postJson(`${stack.url}/v1/DescribeNodes`, {}, { headers: auth, ca });
    assert.equal(ok.status, 200);
    await assert.rejects(
      postJson(`${stack.url}/v1/DescribeNodes`, {}, { headers: auth }),
      /self[- ]signed|unable to verify/i,
    );
    // The CLI with FLEETCMD_CA, and without it.
    const env = { FLEETCMD_URL: stack.url, FLEETCMD_API_TOKEN: stack.token };
    const good = await runCli(['nodes', '--json'], { ...env, FLEETCMD_CA: certFile() });
    assert.equal(good.code, 0, good.stderr);
    // The event stream (what run --wait listens to) trusts the same CA.
    const events = await runCli(['events', '--json'], { ...env, FLEETCMD_CA: certFile() });
    assert.equal(events.code, 0, events.stderr);
    const bad = await runCli(['nodes', '--json'], env);
    // No answer the CLI can trust: exit 8, unreachable (docs/cli.md, exit codes).
    assert.equal(bad.code, 8);
  });

  void it('SIGHUP loads a new certificate: a new connection sees it, the listener stays', async () => {
    const before = await servedFingerprint(stack.url);
    const second = selfSigned(dir, 'second');
    writeFileSync(certFile(), second.cert);
    writeFileSync(keyFile(), second.key);
    const want = new X509Certificate(second.cert).fingerprint256;
    assert.notEqual(before, want);
    process.kill(process.pid, 'SIGHUP');
    await stack.waitFor(
      'the new certificate to be served',
      async () => (await servedFingerprint(stack.url)) === want,
      60_000,
    );
    const ok = await postJson(
      `${stack.url}/v1/DescribeNodes`,
      {},
      { headers: { authorization: `Bearer ${stack.token}` }, ca: second.cert },
    );
    assert.equal(ok.status, 200);
  });

  void it('the agent registers over plain HTTP only to this machine, or with --insecure-http', async () => {
    const args = ['agent', '--register', '--activation-id', 'A', '--activation-code', 'C'];
    const stateDir = join(dir, 'state');
    const r = await hangBound(
      'agent --register',
      runCli([...args, '--url', 'http://192.0.2.1:8080', '--state-dir', stateDir], {}),
    );
    assert.equal(r.code, 2);
    assert.match(r.stderr, /plain HTTP to another machine.*--insecure-http/);
  });
});
