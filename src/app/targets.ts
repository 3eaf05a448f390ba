import { isOnline } from '../domain/node.js';
import type { TagMatch } from '../domain/tags.js';
import type { ActionDeps } from './deps.js';
import { AppError } from './errors.js';

/** The most nodes a ResourceTag target may reach (NodeIdList names at most 1,000). */
export const MAX_TAG_TARGET_NODES = 100_000;

/** An action's target fields, as its schema parsed them: exactly one must be given. */
export interface TargetFields {
  NodeIdList?: string[] | undefined;
  ResourceTag?: { Key: string; Value?: string | undefined }[] | undefined;
}

/** A request's `[{Key, Value?}]` pairs as matches. */
export function tagMatches(tags: readonly { Key: string; Value?: string | undefined }[]) {
  return tags.map((t): TagMatch =>
    t.Value === undefined ? { key: t.Key } : { key: t.Key, value: t.Value },
  );
}

/** The nodes (sorted) whose tags match every pair; undefined above MAX_TAG_TARGET_NODES. */
export function nodesMatching(
  tags: readonly { Key: string; Value?: string | undefined }[],
  deps: ActionDeps,
): Promise<string[] | undefined> {
  return deps.nodes.tags.resolve(tagMatches(tags), MAX_TAG_TARGET_NODES);
}

const show = (m: TagMatch) => (m.value === undefined ? m.key : `${m.key}=${m.value}`);

/**
 * The nodes a request targets: its NodeIdList, or the nodes whose tags match every pair of its
 * ResourceTag, read from the tag indexes now, once (the invocation records them, so later tag
 * changes do not move it). 400 naming the fields when both or neither are given, and
 * InvalidParameter.ResourceTag when the tags match no node (or more than MAX_TAG_TARGET_NODES).
 */
export async function targetNodes(req: TargetFields, deps: ActionDeps): Promise<string[]> {
  const { NodeIdList: list, ResourceTag: tags } = req;
  if (list !== undefined && tags !== undefined) {
    throw new AppError('InvalidParameter', 'NodeIdList, ResourceTag: give one of them, not both');
  }
  if (list !== undefined) return list;
  if (tags === undefined) {
    throw new AppError('MissingParameter', 'NodeIdList or ResourceTag is required (one of them)');
  }
  const nodes = await nodesMatching(tags, deps);
  const what = tagMatches(tags).map(show).join(', ');
  if (nodes === undefined) {
    throw new AppError(
      'InvalidParameter.ResourceTag',
      `ResourceTag: ${what} matches more than ${MAX_TAG_TARGET_NODES} nodes`,
    );
  }
  if (nodes.length === 0) {
    throw new AppError('InvalidParameter.ResourceTag', `ResourceTag: no node carries ${what}`);
  }
  return nodes;
}

/** Registrations read at once by offlineNodes. */
const READ_BATCH = 500;

/** Which of these (registered) nodes are offline now, in order, a batch at a time. */
export async function offlineNodes(nodeIds: readonly string[], deps: ActionDeps) {
  const now = await deps.nodes.nowMs();
  const offline: string[] = [];
  for (let i = 0; i < nodeIds.length; i += READ_BATCH) {
    const slice = nodeIds.slice(i, i + READ_BATCH);
    const infos = await deps.nodes.getMany(slice);
    slice.forEach((id, j) => {
      const info = infos[j];
      if (!info || !isOnline(info, now)) offline.push(id);
    });
  }
  return offline;
}
