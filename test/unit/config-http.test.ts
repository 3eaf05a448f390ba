import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, DEFAULT_HTTP_LIMITS, loadConfig } from '../../src/shared/config.js';

void describe('FLEETCMD_HTTP_* and FLEETCMD_ALLOW_SETUID_FILES', () => {
  void it('default, parse, and refuse headers slower than the whole request', () => {
    const d = loadConfig({});
    assert.deepEqual(d.http, DEFAULT_HTTP_LIMITS);
    assert.equal(d.allowSetuidFiles, false);
    const c = loadConfig({
      FLEETCMD_HTTP_REQUEST_TIMEOUT_SECONDS: '5',
      FLEETCMD_HTTP_HEADERS_TIMEOUT_SECONDS: '5',
      FLEETCMD_HTTP_MAX_CONNECTIONS_PER_IP: '0',
      FLEETCMD_ALLOW_SETUID_FILES: 'true',
    });
    assert.equal(c.http.requestTimeoutSeconds, 5);
    assert.equal(c.http.maxConnectionsPerIp, 0);
    assert.equal(c.allowSetuidFiles, true);
    assert.throws(
      () => loadConfig({ FLEETCMD_HTTP_HEADERS_TIMEOUT_SECONDS: '60' }),
      (e: Error) =>
        e instanceof ConfigError &&
        /FLEETCMD_HTTP_HEADERS_TIMEOUT_SECONDS must not be over FLEETCMD_HTTP_REQUEST_TIMEOUT_SECONDS/.test(
          e.message,
        ),
    );
    assert.throws(
      () => loadConfig({ FLEETCMD_HTTP_IDLE_TIMEOUT_SECONDS: '0' }),
      /FLEETCMD_HTTP_IDLE_TIMEOUT_SECONDS must be a positive whole number/,
    );
  });
});
