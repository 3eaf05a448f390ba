import { AppError } from '../../app/errors.js';
import type { Action, ActionDeps } from '../../app/deps.js';
import { deregisterNodes } from '../../app/enrollment.js';
import { isoSeconds } from '../../domain/time.js';
import type { ActivationRecord, ActivationStore } from '../../store/activation-store.js';
import { decodeToken, encodeToken } from '../page-token.js';
import {
  activationIdSchema,
  createActivationSchema,
  deregisterNodesSchema,
  describeActivationsSchema,
} from '../schemas/activation.js';
import { parseBody } from '../schemas/common.js';
import {
  activationResponse,
  createActivationResponse,
  describeActivationsResponse,
  deregisterNodesResponse,
  type ActivationView,
  type CreateActivationAnswer,
  type DescribeActivationsAnswer,
  type DeregisterNodesAnswer,
} from '../schemas/response.js';
import { defineAction, type ActionEntry } from './define-action.js';

/** The server's activation store (every server has one; a bare ActionDeps may not). */
export function activationsOf(deps: ActionDeps): ActivationStore {
  if (!deps.activations) throw new AppError('InternalError', 'activations are not configured');
  return deps.activations;
}

function renderActivation(a: ActivationRecord): ActivationView {
  return {
    ActivationId: a.activationId,
    Description: a.description,
    InstanceName: a.instanceName,
    InstanceCount: a.instanceCount,
    RegisteredCount: a.registeredCount,
    DeregisteredCount: a.deregisteredCount,
    Disabled: a.disabled,
    CreationTime: isoSeconds(a.createdMs),
    TimeToLiveInHours: a.ttlHours,
    IpAddressRange: a.ipAddressRange,
  };
}

async function existing(store: ActivationStore, activationId: string): Promise<ActivationRecord> {
  const a = await store.get(activationId);
  if (!a) {
    throw new AppError(
      'InvalidActivationId.NotFound',
      `ActivationId: no activation ${JSON.stringify(activationId)}`,
    );
  }
  return a;
}

const createActivation: Action<CreateActivationAnswer> = async (body, deps) => {
  const req = parseBody(createActivationSchema, body);
  const { activationId, code } = await activationsOf(deps).create({
    description: req.Description,
    instanceCount: req.InstanceCount,
    instanceName: req.InstanceName,
    ttlHours: req.TimeToLiveInHours,
    ipAddressRange: req.IpAddressRange,
  });
  return { ActivationId: activationId, ActivationCode: code };
};

const isCursor = (v: unknown): v is { after: string } =>
  typeof v === 'object' && v !== null && typeof (v as { after?: unknown }).after === 'string';

const describeActivations: Action<DescribeActivationsAnswer> = async (body, deps) => {
  const req = parseBody(describeActivationsSchema, body);
  const store = activationsOf(deps);
  let after = req.NextToken !== undefined ? decodeToken(req.NextToken, isCursor).after : undefined;
  const rows: ActivationRecord[] = [];
  // One row more than asked tells whether a NextToken is due.
  while (rows.length <= req.MaxResults) {
    const ids =
      req.ActivationId !== undefined
        ? after === undefined
          ? [req.ActivationId]
          : []
        : await store.list(after, 50);
    if (ids.length === 0) break;
    for (const a of await Promise.all(ids.map((id) => store.get(id)))) {
      if (a && (req.InstanceName === undefined || a.instanceName === req.InstanceName)) {
        rows.push(a);
      }
    }
    after = ids[ids.length - 1];
  }
  const page = rows.slice(0, req.MaxResults);
  const last = page[page.length - 1]?.activationId;
  const more = rows.length > req.MaxResults && last !== undefined;
  return {
    ...(more ? { NextToken: encodeToken({ after: last }) } : {}),
    TotalCount: page.length,
    ActivationList: page.map(renderActivation),
  };
};

const disableActivation: Action<{ Activation: ActivationView }> = async (body, deps) => {
  const req = parseBody(activationIdSchema, body);
  const store = activationsOf(deps);
  await existing(store, req.ActivationId);
  await store.disable(req.ActivationId);
  return { Activation: renderActivation(await existing(store, req.ActivationId)) };
};

const deleteActivation: Action<{ Activation: ActivationView }> = async (body, deps) => {
  const req = parseBody(activationIdSchema, body);
  const store = activationsOf(deps);
  const found = await existing(store, req.ActivationId);
  const r = await store.delete(req.ActivationId);
  if (r === 'InUse') {
    throw new AppError(
      'Activation.InUse',
      `ActivationId: nodes registered with ${req.ActivationId} remain; deregister them first (DeregisterNodes)`,
    );
  }
  if (r === 'Missing') await existing(store, req.ActivationId);
  return { Activation: renderActivation(found) };
};

const deregister: Action<DeregisterNodesAnswer> = async (body, deps) => {
  const req = parseBody(deregisterNodesSchema, body);
  return { Nodes: await deregisterNodes(req.NodeId, deps) };
};

export const ACTIVATION_ACTIONS: Readonly<Record<string, ActionEntry>> = {
  CreateActivation: defineAction({
    handler: createActivation,
    request: createActivationSchema,
    response: createActivationResponse,
    summary: 'Creates an activation: an id and a code (shown once) that nodes register with',
  }),
  DescribeActivations: defineAction({
    readOnly: true,
    handler: describeActivations,
    request: describeActivationsSchema,
    response: describeActivationsResponse,
    summary: 'Lists activations with their counts (never their codes)',
    notFoundFields: [],
  }),
  DisableActivation: defineAction({
    handler: disableActivation,
    request: activationIdSchema,
    response: activationResponse,
    summary: 'Refuses every later registration with an activation',
  }),
  DeleteActivation: defineAction({
    handler: deleteActivation,
    request: activationIdSchema,
    response: activationResponse,
    summary: 'Deletes an activation no registered node uses',
    errors: ['Activation.InUse'],
  }),
  DeregisterNodes: defineAction({
    handler: deregister,
    request: deregisterNodesSchema,
    response: deregisterNodesResponse,
    summary:
      'Removes nodes: their Redis users, their pending runs (Cancelled), their activation places',
  }),
};
