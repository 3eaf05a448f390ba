import { z } from 'zod';
import { parseCidr } from '../../app/ip-range.js';
import { maxResults, nodeId } from './common.js';

/** The vendor's activation ids are UUIDs; fleetcmd's too (uppercase). */
export const activationId = z
  .string()
  .regex(/^[A-Za-z0-9-]{1,64}$/, { message: 'is not a valid activation id' });

/** A node id prefix: a node id without its suffix (so at most 64 - 7 characters). */
const instanceName = z
  .string()
  .max(57)
  .regex(/^$|^[A-Za-z0-9][A-Za-z0-9._-]*$/, {
    message: 'must be letters, digits, ".", "_" or "-", starting with a letter or digit',
  });

export const createActivationSchema = z.strictObject({
  Description: z.string().max(100).default(''),
  InstanceCount: z.number().int().min(1).max(1000).default(10),
  InstanceName: instanceName.default(''),
  TimeToLiveInHours: z.number().int().min(1).max(876_000).default(4),
  IpAddressRange: z
    .string()
    .max(64)
    .refine((r) => r === '' || parseCidr(r) !== undefined, {
      message: 'must be a CIDR range such as 10.0.0.0/8 or 2001:db8::/32',
    })
    .default(''),
});

export const describeActivationsSchema = z.strictObject({
  ActivationId: activationId.optional(),
  InstanceName: z.string().max(57).optional(),
  MaxResults: maxResults,
  NextToken: z.string().max(512).optional(),
});

export const activationIdSchema = z.strictObject({ ActivationId: activationId });

/** RegisterNode: the only fields an unauthenticated caller may send. */
export const registerNodeSchema = z.strictObject({
  ActivationId: activationId,
  ActivationCode: z.string().min(1).max(128),
  NodeId: nodeId.optional(),
  /** The agent's host name: the node id when the activation has no InstanceName. */
  Hostname: z.string().max(255).optional(),
});

export const deregisterNodesSchema = z.strictObject({
  NodeId: z
    .array(nodeId)
    .min(1, { message: 'must name at least one node' })
    .max(100, { message: 'may name at most 100 nodes' }),
});
