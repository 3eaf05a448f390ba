import { randomBytes } from 'node:crypto';
import { AppError } from '../../app/errors.js';
import type { Action, ActionDeps } from '../../app/deps.js';
import { checkWebhookUrl } from '../../app/webhook-address.js';
import { EVENT_ID_RE } from '../../domain/events.js';
import { isoSeconds } from '../../domain/time.js';
import type { Webhook } from '../../domain/webhook.js';
import { decodeToken, encodeToken } from '../page-token.js';
import { parseBody } from '../schemas/common.js';
import {
  createWebhookResponse,
  createWebhookSchema,
  deleteWebhookResponse,
  describeWebhookDeliveriesResponse,
  describeWebhookDeliveriesSchema,
  describeWebhooksResponse,
  describeWebhooksSchema,
  webhookIdSchema,
  type CreateWebhookAnswer,
  type DescribeWebhookDeliveriesAnswer,
  type DescribeWebhooksAnswer,
  type WebhookView,
} from '../schemas/webhook.js';
import { defineAction, type ActionEntry } from './define-action.js';

function webhooksOf(deps: ActionDeps): NonNullable<ActionDeps['webhooks']> {
  if (!deps.webhooks) throw new AppError('InternalError', 'webhooks are not configured');
  return deps.webhooks;
}

const notFound = (id: string) =>
  new AppError('InvalidWebhookId.NotFound', `WebhookId: no webhook ${JSON.stringify(id)}`);

const createWebhook: Action<CreateWebhookAnswer> = async (body, deps) => {
  const req = parseBody(createWebhookSchema, body);
  const { store, max, allowPrivate } = webhooksOf(deps);
  const url = checkWebhookUrl(req.Url, allowPrivate);
  const webhookId = `wh-${randomBytes(8).toString('hex')}`;
  // 256 random bits, hex: the receiver keys its HMAC check with this text.
  const secret = req.Secret ?? randomBytes(32).toString('hex');
  const r = await store.create(
    { webhookId, url: url.href, eventTypes: req.EventTypes, secret },
    max,
  );
  if (r === 'Full') {
    throw new AppError(
      'Webhook.LimitExceeded',
      `there are ${max} webhooks already (FLEETCMD_WEBHOOKS_MAX); delete one first`,
    );
  }
  return { WebhookId: webhookId, Secret: secret };
};

async function view(deps: ActionDeps, w: Webhook): Promise<WebhookView> {
  return {
    WebhookId: w.webhookId,
    Url: w.url,
    EventTypes: w.eventTypes,
    CreationTime: isoSeconds(w.createdMs),
    PendingDeliveries: await webhooksOf(deps).store.backlogLength(w.webhookId),
  };
}

const describeWebhooks: Action<DescribeWebhooksAnswer> = async (body, deps) => {
  const req = parseBody(describeWebhooksSchema, body);
  const { store } = webhooksOf(deps);
  const ids = req.WebhookId !== undefined ? [req.WebhookId] : await store.ids();
  const found = (await Promise.all(ids.map((id) => store.get(id)))).filter(
    (w): w is Webhook => w !== undefined,
  );
  return { Webhooks: { Webhook: await Promise.all(found.map((w) => view(deps, w))) } };
};

const deleteWebhook: Action<object> = async (body, deps) => {
  const req = parseBody(webhookIdSchema, body);
  if (!(await webhooksOf(deps).store.delete(req.WebhookId))) throw notFound(req.WebhookId);
  return {};
};

const isCursor = (v: unknown): v is { before: string } =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as { before?: unknown }).before === 'string' &&
  EVENT_ID_RE.test((v as { before: string }).before);

const describeWebhookDeliveries: Action<DescribeWebhookDeliveriesAnswer> = async (body, deps) => {
  const req = parseBody(describeWebhookDeliveriesSchema, body);
  const { store } = webhooksOf(deps);
  if (!(await store.get(req.WebhookId))) throw notFound(req.WebhookId);
  const before =
    req.NextToken !== undefined ? decodeToken(req.NextToken, isCursor).before : undefined;
  // One row more than asked tells whether a NextToken is due.
  const rows = await store.attempts(req.WebhookId, before, req.MaxResults + 1);
  const page = rows.slice(0, req.MaxResults);
  const last = page.at(-1);
  return {
    ...(rows.length > req.MaxResults && last
      ? { NextToken: encodeToken({ before: last.id }) }
      : {}),
    Deliveries: { Delivery: page.map((r) => r.attempt) },
  };
};

export const WEBHOOK_ACTIONS: Readonly<Record<string, ActionEntry>> = {
  CreateWebhook: defineAction({
    handler: createWebhook,
    request: createWebhookSchema,
    response: createWebhookResponse,
    summary: 'Creates a webhook: lifecycle events POSTed, signed, to a URL; admin tokens only',
    errors: ['Webhook.LimitExceeded'],
  }),
  DescribeWebhooks: defineAction({
    readOnly: true,
    handler: describeWebhooks,
    request: describeWebhooksSchema,
    response: describeWebhooksResponse,
    summary: 'Lists webhooks (never their secrets); admin tokens only',
    notFoundFields: [],
  }),
  DeleteWebhook: defineAction({
    handler: deleteWebhook,
    request: webhookIdSchema,
    response: deleteWebhookResponse,
    summary: 'Deletes a webhook and the deliveries it still had to make; admin tokens only',
  }),
  DescribeWebhookDeliveries: defineAction({
    readOnly: true,
    handler: describeWebhookDeliveries,
    request: describeWebhookDeliveriesSchema,
    response: describeWebhookDeliveriesResponse,
    summary: 'Lists a webhook’s delivery attempts, newest first; admin tokens only',
  }),
};
