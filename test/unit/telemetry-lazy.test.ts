/**
 * Tracing off costs nothing: no module of src/ or workers/ loads OpenTelemetry code
 * statically. Only src/shared/otel-sdk.ts imports the SDK and bullmq-otel, and it is reached
 * only by the dynamic import in startTracing (type-only imports are erased by the compiler).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { bullTelemetry, withSpan } from '../../src/shared/telemetry.js';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sources(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

/** `import ... from 'x'` that is not `import type`, and `export ... from 'x'`. */
const VALUE_IMPORT = /^(?:import(?!\s+type\b)[^;]*?|export[^;]*?)from\s+'([^']+)'/gms;

void describe('tracing off', () => {
  void it('no module but otel-sdk.ts imports OpenTelemetry code, and none imports otel-sdk.ts statically', () => {
    const files = [...sources('src'), ...sources('workers')];
    assert.ok(files.length > 50);
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(VALUE_IMPORT)) {
        const spec = m[1] ?? '';
        if (file.endsWith(join('shared', 'otel-sdk.ts'))) continue;
        assert.ok(!/^@opentelemetry\/|^bullmq-otel$/.test(spec), `${file} imports ${spec}`);
        assert.ok(!spec.endsWith('/otel-sdk.js'), `${file} imports otel-sdk statically`);
      }
    }
  });

  void it('gives BullMQ no telemetry option and runs span callbacks as plain calls', async () => {
    assert.equal(bullTelemetry(), undefined);
    assert.equal(await withSpan('x', {}, async () => 42), 42);
  });
});
