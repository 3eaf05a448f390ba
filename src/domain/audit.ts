import { createHash } from 'node:crypto';

/**
 * Audit events: who changed what on the fleet, through which front end, and how it ended. An
 * event names its target and hashes what was sent (content, parameter values, file content);
 * it never holds a value, a body, a token or a secret (docs/audit.md).
 */

/** How the caller reached fleetcmd. */
export type AuditInterface = 'api' | 'rpc' | 'cli';

/** Who the caller authenticated as. */
export type ActorType = 'ApiToken' | 'AccessKey' | 'Cli';

/** The SHA-256 of a parameter's value, under the parameter's name. */
export interface ParameterDigest {
  Name: string;
  Sha256: string;
}

/** A tag target as the request named it (`ResourceTag: [{Key, Value?}]`). */
export interface TagTarget {
  Key: string;
  Value?: string;
}

/** What the request acted on and what it sent, hashed: present only on accepted requests. */
export interface AuditDetails {
  /** The first MAX_AUDIT_NODE_IDS node ids of the request's NodeIdList (or NodeId list; RegisterNode: its node). */
  NodeIds?: string[];
  NodeCount?: number;
  ResourceTag?: TagTarget[];
  /** SHA-256 (hex) of the command content's bytes (decoded from Base64 when it was sent so). */
  CommandContentSha256?: string;
  /** SendFile: SHA-256 (hex) of the file's bytes. */
  ContentSha256?: string;
  Parameters?: ParameterDigest[];
  InvokeId?: string;
  CommandId?: string;
  /** `key add|remove`: the access key issued or revoked (never its secret). */
  AccessKeyId?: string;
}

/** One audit event as stored (its time and id come from the store). */
export interface AuditRecord extends AuditDetails {
  Action: string;
  Interface: AuditInterface;
  /** API token name, AccessKeyId or `cli:<user>@<host>`; absent when the caller is unknown. */
  Actor?: string;
  ActorType?: ActorType;
  SourceIp: string;
  RequestId: string;
  /** HTTP status of the answer (0 for a CLI command). */
  HttpStatus: number;
  /** `Success`, or the error code the caller was answered with. */
  ResultCode: string;
}

/** How many node ids an event lists; NodeCount tells how many there were. */
export const MAX_AUDIT_NODE_IDS = 10;
const MAX_TAGS = 20;
const MAX_TEXT = 256;

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const text = (v: unknown): string | undefined =>
  typeof v === 'string' && v !== '' ? v.slice(0, MAX_TEXT) : undefined;

/** The bytes a content field stands for: Base64 decoded when its encoding field says so. */
function contentBytes(value: string, encoding: unknown): Buffer {
  return encoding === 'Base64'
    ? Buffer.from(value.replace(/\s+/g, ''), 'base64')
    : Buffer.from(value, 'utf8');
}

function tagsOf(v: unknown): TagTarget[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const tags: TagTarget[] = [];
  for (const t of v.slice(0, MAX_TAGS)) {
    if (!isRecord(t)) continue;
    const key = text(t.Key);
    if (key === undefined) continue;
    const value = typeof t.Value === 'string' ? t.Value.slice(0, MAX_TEXT) : undefined;
    tags.push(value === undefined ? { Key: key } : { Key: key, Value: value });
  }
  return tags;
}

function parametersOf(v: unknown): ParameterDigest[] | undefined {
  if (!isRecord(v)) return undefined;
  const names = Object.keys(v).sort();
  if (names.length === 0) return undefined;
  return names.map((name) => ({
    Name: name.slice(0, MAX_TEXT),
    Sha256: sha256Hex(String(v[name] as string | number | boolean)),
  }));
}

/**
 * The nodes a request acted on: its NodeIdList, DeregisterNodes' NodeId list, or the node a
 * RegisterNode answer made.
 */
function nodeIdsOf(body: Record<string, unknown>, answer: Record<string, unknown>): string[] {
  const list = Array.isArray(body.NodeIdList) ? body.NodeIdList : body.NodeId;
  if (Array.isArray(list)) return list.filter((n) => typeof n === 'string');
  return typeof answer.NodeId === 'string' && answer.NodeId !== '' ? [answer.NodeId] : [];
}

/**
 * The target and digests of an accepted request, read from its body (as the action took it)
 * and its answer: only the fields listed in AuditDetails, so a field an action adds later is
 * left out rather than stored in the clear.
 */
export function auditDetails(body: unknown, answer: unknown): AuditDetails {
  const b = isRecord(body) ? body : {};
  const a = isRecord(answer) ? answer : {};
  const out: AuditDetails = {};
  const nodes = nodeIdsOf(b, a);
  if (nodes.length > 0) {
    out.NodeIds = nodes.slice(0, MAX_AUDIT_NODE_IDS).map((n) => n.slice(0, MAX_TEXT));
    out.NodeCount = nodes.length;
  }
  const tags = tagsOf(b.ResourceTag);
  if (tags !== undefined) out.ResourceTag = tags;
  if (typeof b.CommandContent === 'string') {
    out.CommandContentSha256 = sha256Hex(contentBytes(b.CommandContent, b.ContentEncoding));
  }
  if (typeof b.Content === 'string') {
    out.ContentSha256 = sha256Hex(contentBytes(b.Content, b.ContentType));
  }
  const params = parametersOf(b.Parameters);
  if (params !== undefined) out.Parameters = params;
  const invokeId = text(a.InvokeId) ?? text(b.InvokeId);
  if (invokeId !== undefined) out.InvokeId = invokeId;
  const commandId = text(a.CommandId) ?? text(b.CommandId);
  if (commandId !== undefined) out.CommandId = commandId;
  return out;
}
