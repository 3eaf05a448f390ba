import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { checkWebhookUrl, isRefusedAddress } from '../../src/app/webhook-address.js';
import { attemptVerdict } from '../../src/domain/webhook.js';
import { postWebhook } from '../../src/scheduler/webhook-post.js';

void describe('webhook SSRF guard', () => {
  void it('refuses loopback, private, link-local (metadata) and reserved addresses', () => {
    for (const ip of [
      '127.0.0.1',
      '127.5.6.7',
      '10.0.0.1',
      '10.255.1.2',
      '172.16.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '100.100.100.200',
      '0.0.0.0',
      '::1',
      '::',
      '::ffff:127.0.0.1',
      '::ffff:169.254.169.254',
      'fd00:ec2::254',
      'fe80::1',
      'ff02::1',
    ]) {
      assert.equal(isRefusedAddress(ip), true, ip);
    }
    for (const ip of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) {
      assert.equal(isRefusedAddress(ip), false, ip);
    }
  });

  void it('CreateWebhook refuses such a URL unless private addresses are allowed', () => {
    for (const url of [
      'http://127.0.0.1/hook',
      'http://10.1.2.3/hook',
      'http://169.254.169.254/latest/meta-data/',
      'http://[::1]:8080/hook',
    ]) {
      assert.throws(
        () => checkWebhookUrl(url, false),
        /Url: .* loopback, link-local, private/,
        url,
      );
      assert.equal(checkWebhookUrl(url, true).href, new URL(url).href);
    }
    assert.throws(() => checkWebhookUrl('file:///etc/passwd', true), /Url: must be http/);
    assert.throws(() => checkWebhookUrl('http://u:p@example.com/', true), /user name/);
  });

  void it('a delivery to a name resolving to a refused address is refused before connecting', async () => {
    let hits = 0;
    const server = createServer((_req, res) => {
      hits++;
      res.writeHead(200).end();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    try {
      const opts = { timeoutMs: 2_000, allowPrivate: false };
      const r = await postWebhook(`http://localhost:${port}/`, Buffer.from('{}'), {}, opts);
      assert.equal(r.refused, true);
      assert.match(r.error, /localhost resolves to .*loopback/);
      assert.equal(hits, 0);
      const allowed = await postWebhook(
        `http://localhost:${port}/`,
        Buffer.from('{}'),
        {},
        {
          ...opts,
          allowPrivate: true,
        },
      );
      assert.equal(allowed.status, 200);
      assert.equal(hits, 1);
    } finally {
      server.close();
    }
  });

  void it('a redirect is not followed: it is a failed delivery', async () => {
    let hits = 0;
    const server = createServer((_req, res) => {
      hits++;
      res.writeHead(302, { location: 'http://169.254.169.254/' }).end();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    try {
      const r = await postWebhook(
        `http://127.0.0.1:${port}/`,
        Buffer.from('{}'),
        {},
        {
          timeoutMs: 2_000,
          allowPrivate: true,
        },
      );
      assert.equal(r.status, 302);
      assert.equal(hits, 1);
      assert.equal(attemptVerdict(r.status), 'Failed');
    } finally {
      server.close();
    }
  });

  void it('judges answers: 2xx delivered; none, 5xx, 408, 429 retried; others failed', () => {
    assert.deepEqual([200, 204, 0, 500, 503, 408, 429, 301, 400, 404].map(attemptVerdict), [
      'Succeeded',
      'Succeeded',
      'Retry',
      'Retry',
      'Retry',
      'Retry',
      'Retry',
      'Failed',
      'Failed',
      'Failed',
    ]);
  });
});
