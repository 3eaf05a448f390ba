import { AppError } from '../../app/errors.js';
import { assertRegistered } from '../../app/invocations.js';
import type { Action, ActionDeps } from '../../app/deps.js';
import { nodesMatching } from '../../app/targets.js';
import { MAX_NODE_TAGS, type Tag } from '../../domain/tags.js';
import { decodeToken, encodeToken } from '../page-token.js';
import { parseBody } from '../schemas/common.js';
import {
  emptyResponse,
  listTagResourcesResponse,
  type EmptyAnswer,
  type ListTagResourcesAnswer,
} from '../schemas/response.js';
import {
  listTagResourcesSchema,
  tagResourcesSchema,
  untagResourcesSchema,
} from '../schemas/tags.js';
import { defineAction, type ActionEntry } from './define-action.js';

/**
 * Node tags through the vendor's tagging actions. An API-set tag is kept across agent restarts
 * and wins over an agent-reported tag of its key; every change keeps the tag indexes (which
 * ResourceTag targets and the Tag filters read) in step, in one script per node.
 */

/** Sets tags on nodes: every node is checked (registered, at most 20 tags) before any changes. */
const tagResources: Action<EmptyAnswer> = async (body, deps) => {
  const req = parseBody(tagResourcesSchema, body);
  await assertRegistered(deps, req.ResourceId, 'ResourceId');
  const tags: Tag[] = req.Tag.map((t) => ({ key: t.Key, value: t.Value }));
  const keys = tags.map((t) => t.key);
  const counts = await Promise.all(
    req.ResourceId.map((id) => deps.nodes.tags.countAfterSet(id, keys)),
  );
  const over = req.ResourceId.filter((_, i) => (counts[i] ?? 0) > MAX_NODE_TAGS);
  if (over.length > 0) throw tooMany(over);
  for (const id of req.ResourceId) {
    // Refused only when tags were added since the check above (a concurrent TagResources).
    if (!(await deps.nodes.tags.set(id, tags))) throw tooMany([id]);
  }
  return {};
};

function tooMany(nodeIds: readonly string[]): AppError {
  return new AppError(
    'InvalidTagCount',
    `Tag: node ${nodeIds.map((n) => JSON.stringify(n)).join(', ')} would carry more than ${MAX_NODE_TAGS} tags`,
  );
}

/** Removes tags (by key, or All) from nodes, whether the API or the agent set them. */
const untagResources: Action<EmptyAnswer> = async (body, deps) => {
  const req = parseBody(untagResourcesSchema, body);
  if (req.TagKey === undefined && req.All !== true) {
    throw new AppError('MissingParameter', 'TagKey is required (or All: true)');
  }
  await assertRegistered(deps, req.ResourceId, 'ResourceId');
  for (const id of req.ResourceId) {
    if (req.TagKey === undefined) await deps.nodes.tags.forget(id);
    else await deps.nodes.tags.unset(id, req.TagKey);
  }
  return {};
};

const isTagCursor = (v: unknown): v is { node: string; key: string } =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as { node?: unknown }).node === 'string' &&
  typeof (v as { key?: unknown }).key === 'string';

type ListRequest = ReturnType<typeof listTagResourcesSchema.parse>;

/** The nodes to list, in id order, from `from` on (inclusive), up to `count` of them. */
async function listedNodes(req: ListRequest, from: string, count: number, deps: ActionDeps) {
  let ids: string[];
  if (req.Tag !== undefined) {
    ids = (await nodesMatching(req.Tag, deps)) ?? [];
    if (req.ResourceId !== undefined) {
      const wanted = new Set(req.ResourceId);
      ids = ids.filter((id) => wanted.has(id));
    }
  } else if (req.ResourceId !== undefined) {
    ids = [...new Set(req.ResourceId)].sort();
  } else {
    return deps.nodes.tags.taggedFrom(from, count);
  }
  return ids.filter((id) => id >= from).slice(0, count);
}

/**
 * Each tag of each node, one row per tag, by node id then key. Paged by rows: NextToken holds
 * the last row's node and key.
 */
const listTagResources: Action<ListTagResourcesAnswer> = async (body, deps) => {
  const req = parseBody(listTagResourcesSchema, body);
  const cursor = req.NextToken !== undefined ? decodeToken(req.NextToken, isTagCursor) : undefined;
  const rows: ListTagResourcesAnswer['TagResources']['TagResource'] = [];
  let from = cursor?.node ?? '';
  for (;;) {
    const ids = await listedNodes(req, from, 50, deps);
    const tags = await deps.nodes.tags.tagsOf(ids);
    for (const [i, id] of ids.entries()) {
      for (const t of tags[i] ?? []) {
        if (cursor && id === cursor.node && t.key <= cursor.key) continue;
        rows.push({ ResourceId: id, ResourceType: 'node', TagKey: t.key, TagValue: t.value });
      }
      if (rows.length > req.MaxResults) break;
    }
    const last = ids[ids.length - 1];
    if (rows.length > req.MaxResults || ids.length < 50 || last === undefined) break;
    from = `${last}\0`;
  }
  const page = rows.slice(0, req.MaxResults);
  const end = page[page.length - 1];
  const more = rows.length > req.MaxResults && end !== undefined;
  return {
    ...(more ? { NextToken: encodeToken({ node: end.ResourceId, key: end.TagKey }) } : {}),
    TagResources: { TagResource: page },
  };
};

export const TAG_ACTIONS: Readonly<Record<string, ActionEntry>> = {
  TagResources: defineAction({
    handler: tagResources,
    request: tagResourcesSchema,
    response: emptyResponse,
    summary: 'Sets tags on nodes (kept across agent restarts; wins over an agent tag of its key)',
  }),
  UntagResources: defineAction({
    handler: untagResources,
    request: untagResourcesSchema,
    response: emptyResponse,
    summary: 'Removes tags from nodes, by key (or All)',
  }),
  ListTagResources: defineAction({
    readOnly: true,
    handler: listTagResources,
    request: listTagResourcesSchema,
    response: listTagResourcesResponse,
    summary: 'Lists node tags, one row per tag, by node and key; filters by node and by tags',
    // Unknown nodes list nothing rather than 404.
    notFoundFields: [],
  }),
};
