import { AUDIT_ACTIONS } from './audit.js';
import { ACTIVATION_ACTIONS } from './activation.js';
import { COMMAND_ACTIONS } from './command.js';
import type { ActionEntry } from './define-action.js';
import { FILE_ACTIONS } from './file.js';
import { INVOCATION_ACTIONS } from './invocation.js';
import { NODE_ACTIONS } from './nodes.js';
import { TAG_ACTIONS } from './tags.js';
import { WEBHOOK_ACTIONS } from './webhook.js';
import { SUMMARY_ACTIONS } from './summary.js';

export type { ActionEntry };

/**
 * Every action of `POST /v1/{Action}` (and of the RPC protocol): its handler, request schema,
 * response schema and summary. Registering an action is one entry in its area's module.
 */
export const ACTIONS: Readonly<Record<string, ActionEntry>> = {
  ...INVOCATION_ACTIONS,
  ...NODE_ACTIONS,
  ...TAG_ACTIONS,
  ...FILE_ACTIONS,
  ...COMMAND_ACTIONS,
  ...AUDIT_ACTIONS,
  ...ACTIVATION_ACTIONS,
  ...WEBHOOK_ACTIONS,
  ...SUMMARY_ACTIONS,
};

/** The action of that name, or undefined (a name such as `toString` is no action). */
export function findAction(name: string): ActionEntry | undefined {
  return Object.hasOwn(ACTIONS, name) ? ACTIONS[name] : undefined;
}

/** Whether calls of that action change state, and so are audited (an unknown name: no). */
export function writesState(name: string): boolean {
  const action = findAction(name);
  return action !== undefined && action.readOnly !== true;
}
