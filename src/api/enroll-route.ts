import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import type { RedisClient } from '../store/redis.js';
import { registerNode, type EnrollDeps } from '../app/enrollment.js';
import { AppError } from '../app/errors.js';
import type { Logger } from '../shared/log.js';
import type { Metrics } from './plugins/metrics.js';
import { parseBody } from './schemas/common.js';
import { registerNodeSchema } from './schemas/activation.js';

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
 * answer is counted in fleetcmd_node_registrations_total by outcome (Registered, or the code).
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
          return await reply.send({
            RequestId: req.id,
            NodeId: r.nodeId,
            RedisUrl: r.redisUrl,
            Prefix: r.prefix,
            ActivationId: r.activationId,
          });
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
