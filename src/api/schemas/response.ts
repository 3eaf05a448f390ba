import { z } from 'zod';
import { AGGREGATE_STATUSES, NODE_STATUSES } from '../../domain/status.js';

/**
 * The answers of the actions: GET /docs documents them, and their inferred types type what the
 * handlers return (src/api/render.ts), what the CLI reads and what the tests read. Answers are
 * built, not parsed (a parse per answer would cost every request);
 * test/integration/openapi-responses.test.ts checks real answers against these schemas. Objects
 * are strict: a field an action adds without documenting it fails that test.
 */

/** UTC ISO-8601 with seconds and `Z`, or `""` for a time that has not happened. */
const time = z
  .string()
  .regex(/^$|^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
  .describe('UTC, `2020-01-19T09:15:46Z`; "" when it has not happened');

const nodeStatus = z.enum(NODE_STATUSES);
const aggregateStatus = z.enum(AGGREGATE_STATUSES);
const legacyStatus = z
  .string()
  .describe('Legacy status: Running (for Pending/Scheduled/Running), Finished, or the status');
const repeatMode = z.enum(['Once', 'Period', 'NextRebootOnly', 'EveryReboot']);
const requestId = z.string();
const nextToken = z.string().optional().describe('Present while more pages remain');

/** A 200 answer: RequestId and the action's own fields. */
const answer = <S extends z.ZodRawShape>(shape: S) =>
  z.strictObject({ RequestId: requestId, ...shape });

/** What an action's handler returns: its answer without the RequestId the route adds. */
export type Answer<S extends z.ZodType> = Omit<z.output<S>, 'RequestId'>;

export const emptyResponse = answer({});
export const invokeIdResponse = answer({ InvokeId: z.string() });
export const commandIdResponse = answer({ CommandId: z.string() });

/** RunCommand and InvokeCommand: the new InvokeId, or with RepeatMode DryRun what would run. */
export const submitResponse = answer({
  InvokeId: z.string().optional().describe('The new invocation; absent for a DryRun'),
  DryRun: z.literal(true).optional().describe('RepeatMode DryRun: nothing was run or recorded'),
  NodeCount: z.number().int().optional().describe('DryRun: the nodes the request targets'),
  OfflineNodeIds: z
    .array(z.string())
    .optional()
    .describe('DryRun: the targets that are registered but offline now'),
});

export const invokeNodeSchema = z.strictObject({
  CreationTime: time,
  UpdateTime: time,
  FinishTime: time,
  InvocationStatus: nodeStatus,
  Repeats: z.number().int(),
  NodeId: z.string(),
  Output: z.string().optional().describe('Only with IncludeOutput; Base64 unless PlainText'),
  Dropped: z.number().int().describe('Bytes of output left out of Output'),
  StopTime: time,
  ExitCode: z.number().int().optional().describe('Absent until the run has ended'),
  StartTime: time,
  ErrorInfo: z.string(),
  Timed: z.enum(['true', 'false']),
  ErrorCode: z.string(),
  NodeInvokeStatus: legacyStatus,
});

export const invocationSchema = z.strictObject({
  CreationTime: time,
  Frequency: z.string(),
  InvocationStatus: aggregateStatus,
  RepeatMode: repeatMode,
  InvokeStatus: legacyStatus,
  Parameters: z.string().describe('The parameter values passed, as JSON text'),
  CommandContent: z.string().describe('Base64 unless ContentEncoding is PlainText'),
  CommandName: z.string(),
  CommandDescription: z.string(),
  InvokeId: z.string(),
  Username: z.string(),
  WorkingDir: z.string(),
  Timeout: z.number().int(),
  MaxConcurrency: z
    .string()
    .optional()
    .describe('As sent ("50", "10%"); absent when the invocation has no limit (rollout.md)'),
  MaxErrors: z.string().optional().describe('As sent ("0", "5", "5%"); absent when none'),
  InvokeNodes: z.strictObject({ InvokeNode: z.array(invokeNodeSchema) }),
});

export const describeInvocationsResponse = answer({
  NextToken: nextToken,
  Invocations: z.strictObject({ Invocation: z.array(invocationSchema) }),
});

export const invocationResultSchema = z.strictObject({
  CommandId: z.string(),
  InvokeId: z.string(),
  NodeId: z.string(),
  InvocationStatus: nodeStatus,
  InvokeRecordStatus: legacyStatus,
  Repeats: z.number().int(),
  SkippedRepeats: z.number().int(),
  FireTime: time,
  StartTime: time,
  FinishedTime: time,
  StopTime: time,
  ExitCode: z.number().int().optional(),
  ErrorCode: z.string(),
  ErrorInfo: z.string(),
  Output: z.string().describe('Base64 unless ContentEncoding is PlainText'),
  Dropped: z.number().int(),
  Username: z.string(),
});

export const describeInvocationResultsResponse = answer({
  Invocation: z.strictObject({
    NextToken: nextToken,
    InvocationResults: z.strictObject({ InvocationResult: z.array(invocationResultSchema) }),
  }),
});

/** A node's tags, in key order. */
const nodeTags = z.strictObject({
  Tag: z.array(z.strictObject({ TagKey: z.string(), TagValue: z.string() })),
});

export const nodeSchema = z.strictObject({
  NodeId: z.string(),
  Online: z.boolean(),
  LastHeartbeatTime: time,
  AgentVersion: z.string(),
  Hostname: z.string(),
  OsType: z.string(),
  TimeZone: z.string(),
  BootTime: time,
  ActiveTaskCount: z.number().int(),
  InvocationCount: z.number().int(),
  LastInvokedTime: time,
  /**
   * Redis's clock minus the agent's, in ms, as the agent measured it at a heartbeat (positive:
   * the agent's clock is behind); absent until the agent has measured it (an older agent never).
   */
  ClockOffsetMs: z.number().int().optional(),
  /** The offset is over 1 s either way: schedules still fire on time, but the host's clock is wrong. */
  ClockSkewed: z.boolean(),
  Tags: nodeTags,
});

export const listTagResourcesResponse = answer({
  NextToken: nextToken,
  TagResources: z.strictObject({
    TagResource: z.array(
      z.strictObject({
        ResourceId: z.string(),
        ResourceType: z.string(),
        TagKey: z.string(),
        TagValue: z.string(),
      }),
    ),
  }),
});

export const describeNodesResponse = answer({
  NextToken: nextToken,
  Nodes: z.strictObject({ Node: z.array(nodeSchema) }),
});

export const commandSchema = z.strictObject({
  CommandId: z.string(),
  Name: z.string(),
  Description: z.string(),
  Type: z.literal('RunShellScript'),
  CommandContent: z.string().describe('Base64 unless ContentEncoding is PlainText'),
  WorkingDir: z.string(),
  Timeout: z.number().int(),
  Username: z.string(),
  EnableParameter: z.boolean(),
  ParameterNames: z.strictObject({ ParameterName: z.array(z.string()) }),
  Launcher: z.string(),
  TerminationMode: z.enum(['ProcessTree', 'Process']),
  CreationTime: time,
  InvokeTimes: z.number().int(),
});

export const describeCommandsResponse = answer({
  TotalCount: z.number().int().optional().describe('Absent when filtered by Name'),
  NextToken: nextToken,
  Commands: z.strictObject({ Command: z.array(commandSchema) }),
});

export const fileNodeSchema = z.strictObject({
  NodeId: z.string(),
  InvocationStatus: nodeStatus,
  CreationTime: time,
  StartTime: time,
  FinishTime: time,
  UpdateTime: time,
  ErrorCode: z.string(),
  ErrorInfo: z.string(),
});

export const fileInvocationSchema = z.strictObject({
  InvokeId: z.string(),
  Name: z.string(),
  Description: z.string(),
  TargetDir: z.string(),
  FileMode: z.string(),
  FileOwner: z.string(),
  FileGroup: z.string(),
  Overwrite: z.boolean(),
  ContentType: z.enum(['PlainText', 'Base64']),
  Content: z.string(),
  CreationTime: time,
  InvocationStatus: aggregateStatus,
  NodeCount: z.number().int(),
  InvokeNodes: z.strictObject({ InvokeNode: z.array(fileNodeSchema) }),
});

export const describeSendFileResultsResponse = answer({
  NextToken: nextToken,
  Invocations: z.strictObject({ Invocation: z.array(fileInvocationSchema) }),
});

/** GET /v1/whoami: the calling token's name and role (the console hides what `read` may not do). */
/** SummarizeInvocation: one group of identical answers (status, exit code, output digest). */
export const outputGroupSchema = z.strictObject({
  InvocationStatus: nodeStatus,
  ExitCode: z.number().int().optional().describe('Absent when the runs have none'),
  OutputDigest: z
    .string()
    .describe('sha256 (hex) of the stored output bytes, computed by the agent; "" when none ran'),
  NodeCount: z.number().int().describe('Runs in the group (of a timed invocation: every fire)'),
  NodeIds: z.strictObject({
    NodeId: z.array(z.string()).describe('Up to 10 of the group’s nodes'),
  }),
  Output: z.string().optional().describe('With IncludeOutput: the output of the first node'),
});

export const summarizeInvocationResponse = answer({
  Groups: z.strictObject({ Group: z.array(outputGroupSchema) }),
});

export const whoamiResponse = answer({
  TokenName: z.string().describe('"" while the API runs without tokens'),
  Role: z.enum(['admin', 'run', 'read']),
});

export const createActivationResponse = answer({
  ActivationId: z.string(),
  ActivationCode: z.string().describe('Shown only here: fleetcmd keeps its SHA-256 only'),
});

export const activationSchema = z.strictObject({
  ActivationId: z.string(),
  Description: z.string(),
  InstanceName: z.string(),
  InstanceCount: z.number().int(),
  RegisteredCount: z.number().int(),
  DeregisteredCount: z.number().int(),
  Disabled: z.boolean(),
  CreationTime: time,
  TimeToLiveInHours: z.number().int(),
  IpAddressRange: z.string(),
});

export const describeActivationsResponse = answer({
  NextToken: nextToken,
  TotalCount: z.number().int(),
  ActivationList: z.array(activationSchema),
});

export const activationResponse = answer({ Activation: activationSchema });

/** POST /v1/RegisterNode: the node's identity and its Redis settings (shown once). */
export const registerNodeResponse = answer({
  NodeId: z.string(),
  RedisUrl: z
    .string()
    .describe(
      "One Redis: redis:// (or rediss://) URL with the node's own ACL user and password: shown only here",
    )
    .optional(),
  RedisClusterNodes: z
    .string()
    .describe('A Redis Cluster: its nodes, as REDIS_CLUSTER_NODES (instead of RedisUrl)')
    .optional(),
  RedisUsername: z.string().describe("A Redis Cluster: the node's own ACL user").optional(),
  RedisPassword: z
    .string()
    .describe("A Redis Cluster: the node's own password: shown only here")
    .optional(),
  Prefix: z.string().describe('FLEETCMD_PREFIX the agent must use'),
  ActivationId: z.string(),
});

export const deregisterNodesResponse = answer({
  Nodes: z.array(
    z.strictObject({
      NodeId: z.string(),
      Removed: z.boolean().describe('Whether the node had a Redis user to remove'),
      CancelledRuns: z.number().int(),
      ActivationId: z.string().describe('"" for a node not registered with an activation'),
    }),
  ),
});

/** The answers as the API sends them (the CLI and the tests read these). */
export type InvokeIdAnswer = Answer<typeof invokeIdResponse>;
export type CommandIdAnswer = Answer<typeof commandIdResponse>;
export type EmptyAnswer = Answer<typeof emptyResponse>;
export type DescribeInvocationsAnswer = Answer<typeof describeInvocationsResponse>;
export type InvocationView = z.output<typeof invocationSchema>;
export type InvokeNodeView = z.output<typeof invokeNodeSchema>;
export type DescribeInvocationResultsAnswer = Answer<typeof describeInvocationResultsResponse>;
export type InvocationResultView = z.output<typeof invocationResultSchema>;
export type SubmitAnswer = Answer<typeof submitResponse>;
export type ListTagResourcesAnswer = Answer<typeof listTagResourcesResponse>;
export type DescribeNodesAnswer = Answer<typeof describeNodesResponse>;
export type NodeView = z.output<typeof nodeSchema>;
export type DescribeCommandsAnswer = Answer<typeof describeCommandsResponse>;
export type CommandView = z.output<typeof commandSchema>;
export type DescribeSendFileResultsAnswer = Answer<typeof describeSendFileResultsResponse>;
export type FileInvocationView = z.output<typeof fileInvocationSchema>;
export type FileNodeView = z.output<typeof fileNodeSchema>;
export type OutputGroupView = z.output<typeof outputGroupSchema>;
export type SummarizeInvocationAnswer = Answer<typeof summarizeInvocationResponse>;
export type WhoamiAnswer = Answer<typeof whoamiResponse>;
export type CreateActivationAnswer = Answer<typeof createActivationResponse>;
export type DescribeActivationsAnswer = Answer<typeof describeActivationsResponse>;
export type ActivationView = z.output<typeof activationSchema>;
export type DeregisterNodesAnswer = Answer<typeof deregisterNodesResponse>;
export type RegisterNodeAnswer = Answer<typeof registerNodeResponse>;
