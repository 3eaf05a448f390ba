/**
 * Time from RunCommand's answer until Success is visible through DescribeInvocations, for one
 * Once run of `true` on one agent of an idle local stack (private redis-server with hz 100,
 * server in this process, the agent as a child process). Prints each run and the median.
 *
 *   node --import tsx bench/once-latency.ts [runs=20]
 */
import { startBenchStack } from './local-stack.js';

const runs = Number(process.argv[2] ?? 20);
const stack = await startBenchStack('bench', ['b1']);
const { call } = stack;

async function status(invokeId: string): Promise<string> {
  const d = (await call('DescribeInvocations', { InvokeId: invokeId })) as {
    Invocations?: { Invocation: { InvocationStatus: string }[] };
  };
  return d.Invocations?.Invocation[0]?.InvocationStatus ?? '';
}

try {
  // Wait for the agent to register, then warm up once.
  for (;;) {
    const r = await call('RunCommand', { NodeIdList: ['b1'], CommandContent: 'true' });
    if (typeof r.InvokeId === 'string') {
      while ((await status(r.InvokeId)) !== 'Success') await new Promise((s) => setTimeout(s, 5));
      break;
    }
    await new Promise((s) => setTimeout(s, 100));
  }
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const { InvokeId } = (await call('RunCommand', {
      NodeIdList: ['b1'],
      CommandContent: 'true',
    })) as {
      InvokeId: string;
    };
    const t0 = performance.now();
    while ((await status(InvokeId)) !== 'Success') {
      // Poll as fast as the API answers: the poll itself bounds the resolution (~1 ms).
    }
    times.push(performance.now() - t0);
    await new Promise((s) => setTimeout(s, 50));
  }
  const sorted = [...times].sort((a, b) => a - b);
  const median =
    ((sorted[Math.floor((runs - 1) / 2)] ?? 0) + (sorted[Math.ceil((runs - 1) / 2)] ?? 0)) / 2;
  console.log(`runs (ms): ${times.map((t) => t.toFixed(1)).join(' ')}`);
  console.log(
    `min ${sorted[0]?.toFixed(1)} ms, median ${median.toFixed(1)} ms, max ${sorted[runs - 1]?.toFixed(1)} ms over ${runs} runs`,
  );
} finally {
  await stack.close();
}
