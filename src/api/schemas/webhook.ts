import { z } from 'zod';
import { EVENT_TYPES } from '../../domain/events.js';
import type { Answer } from './response.js';
import { maxResults } from './common.js';

export const webhookId = z
  .string()
  .regex(/^wh-[0-9a-f]{16}$/, { message: 'is not a webhook id (wh- and 16 hex digits)' });

const eventType = z.string().refine((t) => (EVENT_TYPES as readonly string[]).includes(t), {
  error: (issue) =>
    `${JSON.stringify(issue.input)} is not an event type (one of ${EVENT_TYPES.join(', ')})`,
});

export const createWebhookSchema = z.strictObject({
  /** Where deliveries are POSTed: http:// or https://. */
  Url: z.string().min(1).max(2048),
  /** The event types delivered (docs/events.md). */
  EventTypes: z
    .array(eventType)
    .min(1, { message: 'must name at least one event type' })
    .max(EVENT_TYPES.length)
    .refine((a) => new Set(a).size === a.length, { message: 'names an event type twice' }),
  /** Signs deliveries (HMAC-SHA256); generated (and answered once) when absent. */
  Secret: z
    .string()
    .min(16, { message: 'must be at least 16 characters' })
    .max(256)
    .regex(/^[\x21-\x7e]+$/, { message: 'must be printable ASCII without spaces' })
    .optional(),
});

export const webhookIdSchema = z.strictObject({ WebhookId: webhookId });

export const describeWebhooksSchema = z.strictObject({ WebhookId: webhookId.optional() });

export const describeWebhookDeliveriesSchema = z.strictObject({
  WebhookId: webhookId,
  MaxResults: maxResults,
  NextToken: z.string().max(512).optional(),
});

export const createWebhookResponse = z.strictObject({
  RequestId: z.string(),
  WebhookId: z.string(),
  Secret: z
    .string()
    .describe('The signing secret: answered here only, never again; keep it with the receiver'),
});

const webhookView = z.strictObject({
  WebhookId: z.string(),
  Url: z.string(),
  EventTypes: z.array(z.string()),
  CreationTime: z.string(),
  PendingDeliveries: z.number().int().describe('Events waiting to be delivered, in order'),
});

export const describeWebhooksResponse = z.strictObject({
  RequestId: z.string(),
  Webhooks: z.strictObject({ Webhook: z.array(webhookView) }),
});

export const deleteWebhookResponse = z.strictObject({ RequestId: z.string() });

const deliveryView = z.strictObject({
  DeliveryId: z.string().describe('X-Fleetcmd-Delivery: the same for every attempt of a delivery'),
  EventId: z.string(),
  EventType: z.string(),
  Attempt: z.number().int(),
  Time: z.string(),
  Status: z.enum(['Succeeded', 'Retrying', 'Failed']),
  HttpStatus: z.number().int().describe('0 when no answer came'),
  Error: z.string(),
  DurationMs: z.number().int(),
});

export const describeWebhookDeliveriesResponse = z.strictObject({
  RequestId: z.string(),
  NextToken: z.string().optional().describe('Present while more pages remain'),
  Deliveries: z.strictObject({ Delivery: z.array(deliveryView) }),
});

export type CreateWebhookAnswer = Answer<typeof createWebhookResponse>;
export type DescribeWebhooksAnswer = Answer<typeof describeWebhooksResponse>;
export type DescribeWebhookDeliveriesAnswer = Answer<typeof describeWebhookDeliveriesResponse>;
export type WebhookView = z.output<typeof webhookView>;
