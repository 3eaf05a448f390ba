import type { z } from 'zod';
import type { Action } from '../../app/deps.js';
import type { ActionDoc } from '../plugins/openapi.js';
import type { Answer } from '../schemas/response.js';

/**
 * One action as the API knows it: the handler that runs it, and what GET /docs and the RPC
 * front end read of it (request schema, response schema, summary).
 */
export interface ActionEntry<R extends z.ZodType = z.ZodType> extends ActionDoc {
  handler: Action<Answer<R>>;
  response: R;
  /**
   * The action changes nothing: its calls are not audited. Left out, an action counts as
   * state-changing, so a new action is audited until it says otherwise.
   * @default false
   */
  readOnly?: true;
}

/**
 * An entry of the registry: the compiler checks that the handler returns what the response
 * schema describes (RequestId aside), so the two cannot drift apart in a field's name or type.
 */
export function defineAction<R extends z.ZodType>(entry: ActionEntry<R>): ActionEntry {
  return entry;
}
