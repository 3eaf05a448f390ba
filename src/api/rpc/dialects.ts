/**
 * The vendor's two API versions, mapped onto fleetcmd's one set of actions. Version
 * `2022-12-15` (the node dialect) uses the seed's names, which are fleetcmd's own; version
 * `2014-05-26` (the instance dialect) is the one the official `@alicloud/ecs20140526` SDK
 * speaks: `InstanceId` for nodes, `InvokeInstances.InvokeInstance`, `InstanceInvokeStatus`,
 * boolean `Timed`. Field names and types follow that SDK's models.
 */

export type Dialect = 'node' | 'instance';

export const DIALECT_VERSIONS: Readonly<Record<string, Dialect>> = {
  '2022-12-15': 'node',
  '2014-05-26': 'instance',
};

/** How one RPC action of a dialect reaches the engine. */
export interface DialectAction {
  /** The fleetcmd action it runs. */
  action: string;
  /** Request fields renamed onto the engine's: dialect name -> fleetcmd name. */
  rename?: Readonly<Record<string, string>>;
  /** Fields that are accepted with one value only and then dropped (e.g. Type=RunShellScript). */
  fixed?: Readonly<Record<string, string>>;
  /** The dialect's defaults where they differ from fleetcmd's. */
  defaults?: Readonly<Record<string, string>>;
}

/** Accepted in every request of both dialects and dropped: fleetcmd has one region. */
export const IGNORED_FIELDS: readonly string[] = ['RegionId'];

const SHELL = { Type: 'RunShellScript' } as const;
const LIST = { InstanceId: 'NodeIdList' } as const;
const ONE = { InstanceId: 'NodeId' } as const;

/** The actions both dialects share (the vendor has them in both versions). */
const SHARED = [
  'RunCommand',
  'InvokeCommand',
  'CreateCommand',
  'DescribeCommands',
  'ModifyCommand',
  'DeleteCommand',
  'DescribeInvocations',
  'DescribeInvocationResults',
  'StopInvocation',
  'SendFile',
  'DescribeSendFileResults',
  'DescribeCloudAssistantStatus',
  'TagResources',
  'UntagResources',
  'ListTagResources',
  'CreateActivation',
  'DescribeActivations',
  'DisableActivation',
  'DeleteActivation',
] as const;

const identity = (names: readonly string[]): Record<string, DialectAction> =>
  Object.fromEntries(names.map((n) => [n, { action: n }]));

export const DIALECT_ACTIONS: Readonly<Record<Dialect, Readonly<Record<string, DialectAction>>>> = {
  // The node dialect is fleetcmd's own API, DescribeNodes and DescribeAuditEvents included.
  node: {
    ...identity([...SHARED, 'DescribeNodes']),
    // `Action` names the RPC action itself: the audit filter travels as EventAction.
    DescribeAuditEvents: { action: 'DescribeAuditEvents', rename: { EventAction: 'Action' } },
  },
  instance: {
    RunCommand: { action: 'RunCommand', rename: LIST, fixed: SHELL },
    InvokeCommand: { action: 'InvokeCommand', rename: LIST },
    // The vendor's CreateCommand takes Base64 content unless told otherwise.
    CreateCommand: { action: 'CreateCommand', defaults: { ContentEncoding: 'Base64' } },
    DescribeCommands: { action: 'DescribeCommands', fixed: SHELL },
    ModifyCommand: { action: 'ModifyCommand' },
    DeleteCommand: { action: 'DeleteCommand' },
    DescribeInvocations: { action: 'DescribeInvocations', rename: ONE },
    DescribeInvocationResults: { action: 'DescribeInvocationResults', rename: ONE },
    StopInvocation: { action: 'StopInvocation', rename: LIST },
    SendFile: { action: 'SendFile', rename: LIST },
    DescribeSendFileResults: { action: 'DescribeSendFileResults', rename: ONE },
    DescribeCloudAssistantStatus: { action: 'DescribeCloudAssistantStatus', rename: LIST },
    // ResourceType "instance" means nodes (the schemas take it); answers say "instance".
    TagResources: { action: 'TagResources' },
    UntagResources: { action: 'UntagResources' },
    ListTagResources: { action: 'ListTagResources' },
    ...identity([
      'CreateActivation',
      'DescribeActivations',
      'DisableActivation',
      'DeleteActivation',
    ]),
  },
};

/** Answer field names of the node dialect (fleetcmd's) -> the instance dialect's. */
const INSTANCE_NAMES: Readonly<Record<string, string>> = {
  NodeId: 'InstanceId',
  InvokeNodes: 'InvokeInstances',
  InvokeNode: 'InvokeInstance',
  NodeInvokeStatus: 'InstanceInvokeStatus',
  NodeCount: 'VmCount',
  NodeCloudAssistantStatusSet: 'InstanceCloudAssistantStatusSet',
  NodeCloudAssistantStatus: 'InstanceCloudAssistantStatus',
};

/**
 * An answer in the instance dialect: names renamed throughout, `Timed` a boolean, SendFile's
 * `Overwrite` a text (the SDK models type them so), and a tag's ResourceType `instance`.
 */
export function toInstanceDialect(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toInstanceDialect);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const name = INSTANCE_NAMES[key] ?? key;
    if (key === 'Timed' && (v === 'true' || v === 'false')) out[name] = v === 'true';
    else if (key === 'Overwrite' && typeof v === 'boolean') out[name] = String(v);
    else if (key === 'ResourceType' && v === 'node') out[name] = 'instance';
    else out[name] = toInstanceDialect(v);
  }
  return out;
}

/**
 * A fleetcmd message with the dialect's field names (`NodeIdList: ...` reads
 * `InstanceId: ...`), so it names the field the client sent.
 */
export function renameInMessage(message: string, action: DialectAction): string {
  let out = message;
  for (const [theirs, ours] of Object.entries(action.rename ?? {})) {
    out = out.replace(new RegExp(`\\b${ours}\\b`, 'g'), theirs);
  }
  return out;
}

/** A flat parameter name with its field renamed per `action` (`InstanceId.2` -> `NodeIdList.2`). */
export function renameParam(key: string, action: DialectAction): string {
  const dot = key.indexOf('.');
  const field = dot < 0 ? key : key.slice(0, dot);
  const ours = action.rename?.[field];
  return ours === undefined ? key : ours + key.slice(field.length);
}
