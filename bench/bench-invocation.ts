import { newId } from '../src/app/invocations.js';
import type { Invocation } from '../src/domain/invocation.js';

/** A one-off invocation of `content` on `nodeIds`, with every other field at its default. */
export function benchInvocation(nodeIds: string[], content: string): Invocation {
  return {
    invokeId: newId('t-'),
    commandId: '',
    name: 'bench',
    description: '',
    content: Buffer.from(content),
    nodeIds,
    frequency: '',
    repeatMode: 'Once',
    timeoutSeconds: 60,
    username: '',
    workingDir: '',
    parameters: {},
    enableParameter: false,
    terminationMode: 'ProcessTree',
    launcher: '',
    createdMs: Date.now(),
  };
}
