import { z } from 'zod';
import { MAX_NODE_TAGS, tagKeyProblem, tagValueProblem } from '../../domain/tags.js';

/**
 * The tag fields every schema shares (a file apart from common.ts, which takes ResourceTag from
 * here): a tag `{Key, Value}` and a tag target's pair `{Key, Value?}`.
 */

const tagKey = z.string().superRefine((key, ctx) => {
  const problem = tagKeyProblem(key);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

/** A value checked with its key (the message names the tag). */
function checkValue(t: { Key: string; Value?: string | undefined }, ctx: z.RefinementCtx) {
  const problem = t.Value === undefined ? undefined : tagValueProblem(t.Key, t.Value);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem, path: ['Value'] });
}

/** A tag to set: Key 1-128 characters, Value 0-128 (absent: ''). */
export const tagSchema = z
  .strictObject({ Key: tagKey, Value: z.string().default('') })
  .superRefine(checkValue);

/** A tag to match: without Value, any value of Key matches. */
export const tagMatchSchema = z
  .strictObject({ Key: tagKey, Value: z.string().optional() })
  .superRefine(checkValue);

/** 1-20 pairs, every one of which a node must match. */
export const tagMatchList = z
  .array(tagMatchSchema)
  .min(1, { message: 'must hold at least one tag' })
  .max(MAX_NODE_TAGS, { message: `may hold at most ${MAX_NODE_TAGS} tags` });

/** ResourceTag of RunCommand, InvokeCommand and SendFile: the nodes that match every pair. */
export const resourceTag = tagMatchList.describe(
  'Targets the nodes whose tags match every pair (a pair without Value matches any value of its key), resolved once, at submission; instead of NodeIdList',
);
