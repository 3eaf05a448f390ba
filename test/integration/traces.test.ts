/**
 * OpenTelemetry traces across the server and the agent: one RunCommand is one trace. The
 * server runs in this process with an InMemorySpanExporter; the agent is a real child process
 * exporting over OTLP/HTTP (OTEL_EXPORTER_OTLP_ENDPOINT) to a receiver in this test. The test
 * follows parent ids from the agent's run span up to the API request span:
 * run (agent) -> BullMQ process (agent, bullmq-otel) -> BullMQ add (server, bullmq-otel)
 * -> dispatch (server) -> POST /v1/RunCommand (server, the root).
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { startTracing, stopTracing } from '../../src/shared/telemetry.js';
import { HANG_MS } from '../helpers/hang.js';
import { makeStack, run, waitFinal, waitFor, type Stack } from '../helpers/stack.js';

/** A span as either side reports it: ids in hex. */
interface SpanRow {
  side: 'server' | 'agent';
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  attributes: Record<string, unknown>;
}

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes?: { key: string; value: Record<string, unknown> }[];
}

/** An OTLP/HTTP JSON receiver: every span POSTed to /v1/traces. */
async function otlpReceiver(): Promise<{ server: Server; url: string; spans: SpanRow[] }> {
  const spans: SpanRow[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as {
        resourceSpans?: { scopeSpans?: { spans?: OtlpSpan[] }[] }[];
      };
      for (const rs of body.resourceSpans ?? []) {
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            spans.push({
              side: 'agent',
              name: s.name,
              traceId: s.traceId,
              spanId: s.spanId,
              parentSpanId: s.parentSpanId || undefined,
              attributes: Object.fromEntries(
                (s.attributes ?? []).map((a) => [a.key, Object.values(a.value)[0]]),
              ),
            });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return { server, url: `http://127.0.0.1:${port}`, spans };
}

const fromMemory = (s: ReadableSpan): SpanRow => ({
  side: 'server',
  name: s.name,
  traceId: s.spanContext().traceId,
  spanId: s.spanContext().spanId,
  parentSpanId: s.parentSpanContext?.spanId,
  attributes: { ...s.attributes },
});

void describe('traces', () => {
  let stack: Stack;
  let receiver: Awaited<ReturnType<typeof otlpReceiver>>;
  const memory = new InMemorySpanExporter();

  before(async () => {
    receiver = await otlpReceiver();
    process.env.OTEL_BSP_SCHEDULE_DELAY = '100';
    // Before the stack: its queues take BullMQ's telemetry option when they are made.
    await startTracing({ serviceName: 'fleetcmd-server', exporter: memory });
    stack = await makeStack();
  });
  after(async () => {
    await stack.close();
    await stopTracing();
    receiver.server.close();
  });

  void it('a RunCommand is one trace: API request, dispatch, node job and the run on the agent', async () => {
    await stack.startAgent('tr1', {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_BSP_SCHEDULE_DELAY: '100',
    });
    const invokeId = await run(stack, { NodeIdList: ['tr1'], CommandContent: 'echo traced' });
    await waitFinal(stack, invokeId);

    const all = () => [...memory.getFinishedSpans().map(fromMemory), ...receiver.spans];
    const runSpan = await waitFor(
      'the agent’s run span',
      async () =>
        receiver.spans.find(
          (s) => s.name === 'run' && s.attributes['fleetcmd.invoke_id'] === invokeId,
        ),
      HANG_MS,
    );
    // Up the parent chain to the root, every hop found on one side or the other.
    const chain: SpanRow[] = [runSpan];
    await waitFor(
      'every span up to the root',
      async () => {
        for (;;) {
          const top = chain[chain.length - 1] as SpanRow;
          if (top.parentSpanId === undefined) return true;
          const parent = all().find((s) => s.spanId === top.parentSpanId);
          if (!parent) return false;
          chain.push(parent);
        }
      },
      HANG_MS,
    );
    const trace = runSpan.traceId;
    for (const s of chain) assert.equal(s.traceId, trace, `${s.name} is in the run's trace`);
    assert.deepEqual(
      chain.map((s) => s.side),
      ['agent', 'agent', 'server', 'server', 'server'],
      chain.map((s) => `${s.side}:${s.name}`).join(' <- '),
    );
    const [, processSpan, addSpan, dispatchSpan, requestSpan] = chain;
    assert.match(processSpan?.name ?? '', /process/);
    assert.match(addSpan?.name ?? '', /add/);
    assert.equal(dispatchSpan?.name, 'dispatch');
    assert.equal(dispatchSpan?.attributes['fleetcmd.invoke_id'], invokeId);
    assert.equal(requestSpan?.name, 'POST /v1/RunCommand');
  });
});
