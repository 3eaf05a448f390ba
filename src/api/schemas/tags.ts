import { z } from 'zod';
import { MAX_NODE_TAGS } from '../../domain/tags.js';
import { flag, nodeId } from './common.js';
import { tagMatchList, tagSchema } from './tag-fields.js';

/**
 * The tagging actions' requests, in the vendor's shape. ResourceType is `node` (fleetcmd's
 * name) or `instance` (the instance dialect's): both mean nodes.
 */
const resourceType = z
  .enum(['node', 'instance'], { message: 'must be node (or instance)' })
  .describe('node (the instance dialect says instance)');

/** Nodes to tag or untag: 1-50 distinct ids. */
const resourceIds = z
  .array(nodeId)
  .min(1, { message: 'must name at least one node' })
  .max(50, { message: 'may name at most 50 nodes' })
  .refine((ids) => new Set(ids).size === ids.length, { message: 'names a node twice' });

export const tagResourcesSchema = z.strictObject({
  ResourceType: resourceType,
  ResourceId: resourceIds,
  Tag: z
    .array(tagSchema)
    .min(1, { message: 'must hold at least one tag' })
    .max(MAX_NODE_TAGS, { message: `may hold at most ${MAX_NODE_TAGS} tags` })
    .refine((tags) => new Set(tags.map((t) => t.Key)).size === tags.length, {
      message: 'gives a key twice',
    }),
});

export const untagResourcesSchema = z.strictObject({
  ResourceType: resourceType,
  ResourceId: resourceIds,
  TagKey: z
    .array(z.string().min(1).max(128))
    .min(1)
    .max(MAX_NODE_TAGS, { message: `may hold at most ${MAX_NODE_TAGS} keys` })
    .optional(),
  /** Every tag of the nodes (when TagKey is absent). */
  All: flag.optional(),
});

export const listTagResourcesSchema = z.strictObject({
  ResourceType: resourceType,
  ResourceId: z.array(nodeId).min(1).max(50).optional(),
  Tag: tagMatchList.optional(),
  MaxResults: z.number().int().min(1).max(1000).default(50),
  NextToken: z.string().max(512).optional(),
});
