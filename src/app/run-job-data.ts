import { invocationKind, type Invocation, type InvocationHead } from '../domain/invocation.js';
import type { RunJob } from '../domain/run-job.js';

/** The run job a node gets for an invocation (of fire `fire`; '' for a one-off run). */
export function toRunJob(inv: InvocationHead, fire = ''): RunJob {
  return {
    invokeId: inv.invokeId,
    fire,
    commandId: inv.commandId,
    content: inv.content.toString('base64'),
    username: inv.username,
    workingDir: inv.workingDir,
    timeoutSeconds: inv.timeoutSeconds,
    terminationMode: inv.terminationMode,
    launcher: inv.launcher,
    enableParameter: inv.enableParameter,
    // Each node replaces the parameters itself: the built-ins differ per node.
    parameters: inv.enableParameter ? inv.parameters : {},
    // A sent file: the agent writes `content` to this file instead of running it.
    ...(inv.file
      ? {
          file: {
            name: inv.name,
            targetDir: inv.file.targetDir,
            mode: parseInt(inv.file.fileMode, 8),
            owner: inv.file.fileOwner,
            group: inv.file.fileGroup,
            overwrite: inv.file.overwrite,
          },
        }
      : {}),
  };
}

/** The time a command invocation is listed at in its nodes' indexes (sent files are not). */
export function listedOnNodes(inv: Invocation): number | undefined {
  return invocationKind(inv) === 'command' ? inv.createdMs : undefined;
}
