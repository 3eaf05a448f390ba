import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import type { RedisClient } from '../store/redis.js';
import { registerNode, type EnrollDeps } from '../app/enrollment.js';
import { AppError } from '../app/errors.js';
import type { Logger } from '../shared/log.js';
import type { Metrics } from './plugins/metrics.js';
import type { ActionDoc } from './plugins/openapi.js';
import { parseBody } from './schemas/common.js';
import { registerNodeSchema } from './schemas/activation.js';
import { registerNodeResponse, type RegisterNodeAnswer } from './schemas/response.js';
import { type RedisTarget, targetEnv } from '../shared/redis-target.js';

/** The route's name in the OpenAPI document and the audit trail. */
export const REGISTER_NODE = 'RegisterNode';

/** `POST /v1/RegisterNode` in the OpenAPI document (it is not an action of the registry). */
export const REGISTER_NODE_DOC: ActionDoc = {
  request: registerNodeSchema,
  response: registerNodeResponse,
  summary:
    "Trades an activation's id and code for a node id and that node's own Redis user (no bearer token: the activation is the credential; rate-limited per client address)",
  public: true,
  errors: [
    'InvalidActivationCode.Mismatch',
    'Activation.Expired',
    'Activation.Disabled',
    'Activation.InstanceCountExceeded',
    'Activation.IpAddressNotAllowed',
    'InvalidNodeId.Taken',
  ],
};

export interface EnrollRouteDeps {
  enroll: EnrollDeps;
  redis: RedisClient;
  log: Logger;
  metrics: Metrics;
  /** RegisterNode calls one client address may make per window (0: no limit). */
  perAddress: { max: number; windowSeconds: number; nameSpace: string };
}

/**
 * `POST /v1/RegisterNode`: no bearer token, the activation's id and code are the credentials.
 * Rate-limited per client address (req.ip: the socket's address, or with FLEETCMD_TRUST_PROXY
 * the X-Forwarded-For hop it trusts), counted in Redis so replicas share the counts. Every
 * answer is counted in fleetcmd_node_registrations_total by outcome (Registered, or the code),
 * and audited by the server's audit hook (src/api/plugins/audit.ts) as a call of RegisterNode:
 * none of the request body is looked at (the code stays out); a success names its node from
 * the answer.
 */
export async function registerEnrollRoute(
  app: FastifyInstance,
  deps: EnrollRouteDeps,
): Promise<void> {
  await app.register(async (scope) => {
    const { max, windowSeconds, nameSpace } = deps.perAddress;
    await scope.register(rateLimit, {
      global: false,
      redis: deps.redis,
      nameSpace,
      skipOnError: true,
      errorResponseBuilder: (_req, ctx) => {
        deps.metrics.registration('Throttling');
        return new AppError(
          'Throttling',
          `too many registrations from this address: at most ${ctx.max} per ${windowSeconds} s; retry in ${ctx.after}`,
        );
      },
    });
    scope.post(
      '/v1/RegisterNode',
      {
        onRequest: async (req) => {
          req.audit = { action: REGISTER_NODE, via: 'api', body: {} };
        },
        config: {
          rateLimit:
            max > 0
              ? { max, timeWindow: windowSeconds * 1000, keyGenerator: (req) => req.ip }
              : false,
        },
      },
      async (req, reply) => {
        try {
          const body = parseBody(registerNodeSchema, req.body);
          const r = await registerNode(
            {
              activationId: body.ActivationId,
              code: body.ActivationCode,
              nodeId: body.NodeId,
              hostname: body.Hostname,
              ip: req.ip,
            },
            deps.enroll,
          );
          deps.metrics.registration('Registered');
          deps.log.info(
            { requestId: req.id, nodeId: r.nodeId, activationId: r.activationId, ip: req.ip },
            'node registered',
          );
          const answer: RegisterNodeAnswer = {
            NodeId: r.nodeId,
            ...redisAnswer(r.redis),
            Prefix: r.prefix,
            ActivationId: r.activationId,
          };
          return await reply.send({ RequestId: req.id, ...answer });
        } catch (err) {
          const code = err instanceof AppError ? err.code : 'InternalError';
          deps.metrics.registration(code);
          deps.log.info({ requestId: req.id, ip: req.ip, code }, 'node registration refused');
          throw err;
        }
      },
    );
  });
}

/** The node's Redis settings as RegisterNode answers them: a URL, or a cluster's three fields. */
function redisAnswer(t: RedisTarget): Partial<RegisterNodeAnswer> {
  if (t.kind === 'url') return { RedisUrl: t.url };
  const env = targetEnv(t);
  return {
    RedisClusterNodes: env.REDIS_CLUSTER_NODES,
    RedisUsername: env.REDIS_USERNAME,
    RedisPassword: env.REDIS_PASSWORD,
  };
}
