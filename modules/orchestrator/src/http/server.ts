/**
 * The local HTTP API for the console and operators (fastify). Bearer sessions from `POST /api/login`
 * (rate-limited on failures); every route checks a role; `GET /healthz` needs no authentication and
 * answers 200 once the module is connected to edgeHub and the engine has recovered. Live events are a
 * Server-Sent Events stream (`GET /api/events`).
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { type Logger, errorMessage, isCodedError } from '@takt/edge-kit';
import type { JsonObject } from '@takt/workflow';
import { z } from 'zod';
import type { Actor, Orchestrator } from '../app/orchestrator.js';
import { LoginLimiter, Sessions, type User, baseRoles, hasRole } from '../domain/users.js';
import { OrchestratorError } from '../errors.js';
import { simulateSchema, simulationOptions, startSchema } from '../edge/methods.js';

export interface HttpServerOptions {
  orchestrator: Orchestrator;
  logger: Logger;
  host: string;
  port: number;
  /** True once connected to edgeHub (for /healthz). */
  connected: () => boolean;
  now?: () => number;
}

export interface HttpServer {
  readonly name: string;
  start(): Promise<void>;
  close(): Promise<void>;
  /** The bound port (useful with port 0). */
  port(): number;
}

const loginSchema = z.object({ user: z.string().min(1).max(128), password: z.string().min(1).max(256) }).strict();
const decisionBody = z
  .object({
    password: z.string().min(1).max(256),
    meaning: z.string().min(1).max(256).optional(),
    reason: z.string().max(1024).optional(),
    comment: z.string().max(2048).optional(),
  })
  .strict();
const verbBody = z.object({ reason: z.string().max(1024).optional() }).strict();
const signalBody = z.object({ name: z.string().min(1).max(128), payload: z.unknown().optional() }).strict();
const userBody = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_.@-]{1,64}$/),
    password: z.string().min(8).max(256),
    roles: z
      .array(z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,31}$/))
      .min(1)
      .max(16),
  })
  .strict();
const listQuery = z.object({
  status: z.string().max(32).optional(),
  workflowId: z.string().max(128).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).default(0),
});

/** A synchronous handler as fastify wants it: a promise (thrown errors become rejections). */
function sync<T, R = FastifyRequest>(handler: (request: R) => T): (request: R) => Promise<T> {
  return (request) => Promise.resolve().then(() => handler(request));
}

function parse<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const parsed = schema.safeParse(value ?? {});
  if (!parsed.success) {
    throw new OrchestratorError('ORCH_REQUEST_INVALID', 'the request is malformed', {
      details: { problems: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
    });
  }
  return parsed.data;
}

const STATUS_BY_CODE: Record<string, number> = {
  ORCH_AUTH_FAILED: 401,
  ORCH_FORBIDDEN: 403,
  ORCH_RATE_LIMITED: 429,
  ORCH_WORKFLOW_UNKNOWN: 404,
  ORCH_RECIPE_UNKNOWN: 404,
  ORCH_TASK_NOT_FOUND: 404,
  WF_INSTANCE_NOT_FOUND: 404,
  WF_DEFINITION_NOT_FOUND: 404,
  ORCH_EMERGENCY_STOP: 409,
  WF_INVALID_TRANSITION: 409,
  ORCH_USER_EXISTS: 409,
  ORCH_NOT_READY: 503,
};

export function createHttpServer(options: HttpServerOptions): HttpServer {
  const { orchestrator } = options;
  const log = options.logger.child({ component: 'http' });
  const sessions = new Sessions(8 * 3600_000, options.now);
  const limiter = new LoginLimiter(5, 60_000, options.now);
  const app: FastifyInstance = Fastify({ logger: false, bodyLimit: 256 * 1024 });
  let boundPort = 0;
  const streams = new Set<FastifyReply>();

  const authenticate = (request: FastifyRequest, role: string): User => {
    const header = request.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice(7) : '';
    const user = token === '' ? undefined : sessions.get(token);
    if (user === undefined)
      throw new OrchestratorError('ORCH_AUTH_FAILED', 'log in first (Authorization: Bearer <token>)');
    if (!hasRole(user, role)) {
      throw new OrchestratorError('ORCH_FORBIDDEN', `this needs the ${role} role`, { details: { needs: [role] } });
    }
    return user;
  };
  const actor = (user: User): Actor => ({ type: 'user', id: user.name });

  app.setErrorHandler((error, _request, reply) => {
    if (isCodedError(error)) {
      const status = STATUS_BY_CODE[error.code] ?? (error.retryable ? 503 : 400);
      const details = (error as { details?: unknown }).details;
      void reply.status(status).send({
        code: error.code,
        message: error.message,
        retryable: error.retryable,
        ...(details === undefined ? {} : { details }),
      });
      return;
    }
    const statusCode = (error as { statusCode?: unknown }).statusCode;
    if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
      void reply
        .status(statusCode)
        .send({ code: 'ORCH_REQUEST_INVALID', message: errorMessage(error), retryable: false });
      return;
    }
    log.error('request failed', { error });
    void reply.status(500).send({ code: 'ORCH_INTERNAL', message: 'internal error', retryable: true });
  });

  app.get('/healthz', async (_request, reply) => {
    const ok = options.connected() && orchestrator.isRecovered;
    return reply
      .status(ok ? 200 : 503)
      .send({ ok, connected: options.connected(), recovered: orchestrator.isRecovered });
  });

  app.post('/api/login', async (request) => {
    const key = request.ip;
    limiter.check(key);
    const body = parse(loginSchema, request.body);
    try {
      const user = await orchestrator.users.verify(body.user, body.password);
      limiter.succeed(key);
      const session = sessions.create(user);
      return { token: session.token, expiresAt: new Date(session.expiresAtMs).toISOString(), user };
    } catch (error) {
      limiter.fail(key);
      throw error;
    }
  });

  app.post(
    '/api/logout',
    sync((request) => {
      authenticate(request, 'viewer');
      const header = request.headers.authorization ?? '';
      sessions.revoke(header.slice(7));
      return { ok: true };
    }),
  );

  app.get(
    '/api/me',
    sync((request) => authenticate(request, 'viewer')),
  );

  app.get(
    '/api/instances',
    sync((request) => {
      authenticate(request, 'viewer');
      const q = parse(listQuery, request.query);
      return orchestrator.listInstances({
        limit: q.limit,
        offset: q.offset,
        ...(q.status === undefined ? {} : { status: q.status }),
        ...(q.workflowId === undefined ? {} : { workflowId: q.workflowId }),
      });
    }),
  );

  app.get<{ Params: { id: string }; Querystring: { history?: string } }>(
    '/api/instances/:id',
    sync((request) => {
      authenticate(request, 'viewer');
      return orchestrator.getInstance(request.params.id, request.query.history === 'true');
    }),
  );

  app.post('/api/instances', async (request, reply) => {
    const user = authenticate(request, 'operator');
    const body = parse(startSchema.omit({ actor: true }), request.body);
    const answer = await orchestrator.startWorkflow(
      {
        workflowId: body.workflowId,
        ...(body.version === undefined ? {} : { version: body.version }),
        ...(body.parameters === undefined ? {} : { parameters: body.parameters as JsonObject }),
        ...(body.recipe === undefined ? {} : { recipe: body.recipe }),
        ...(body.idempotencyKey === undefined ? {} : { idempotencyKey: body.idempotencyKey }),
        ...(body.correlationId === undefined ? {} : { correlationId: body.correlationId }),
      },
      actor(user),
    );
    return reply.status(answer.created ? 201 : 200).send(answer);
  });

  for (const verb of ['hold', 'restart', 'stop', 'abort', 'cancel'] as const) {
    app.post<{ Params: { id: string } }>(`/api/instances/:id/${verb}`, async (request) => {
      const user = authenticate(request, 'operator');
      const body = parse(verbBody, request.body);
      return orchestrator.control(verb, request.params.id, actor(user), body.reason);
    });
  }

  app.post<{ Params: { id: string } }>('/api/instances/:id/signal', async (request) => {
    const user = authenticate(request, 'operator');
    const body = parse(signalBody, request.body);
    await orchestrator.signal(request.params.id, body.name, body.payload as JsonObject | undefined, actor(user));
    return { delivered: true };
  });

  app.get(
    '/api/tasks',
    sync((request) => {
      const user = authenticate(request, 'viewer');
      const tasks = orchestrator.listTasks();
      // The inbox shows what this user may act on.
      return { items: tasks.filter((t) => t.roles.length === 0 || t.roles.some((r) => hasRole(user, r))) };
    }),
  );

  for (const decision of ['approve', 'reject'] as const) {
    app.post<{ Params: { taskId: string } }>(`/api/tasks/:taskId/${decision}`, async (request) => {
      const user = authenticate(request, 'viewer');
      const body = parse(decisionBody, request.body);
      const task = orchestrator.listTasks().find((t) => t.taskId === request.params.taskId);
      if (task === undefined) {
        throw new OrchestratorError('ORCH_TASK_NOT_FOUND', `no open task ${request.params.taskId}`);
      }
      return orchestrator.decide(
        decision,
        {
          instanceId: task.instanceId,
          taskId: task.taskId,
          user: user.name,
          password: body.password,
          ...(body.meaning === undefined ? {} : { meaning: body.meaning }),
          ...(body.reason === undefined ? {} : { reason: body.reason }),
          ...(body.comment === undefined ? {} : { comment: body.comment }),
        },
        user,
      );
    });
  }

  app.get(
    '/api/definitions',
    sync((request) => {
      authenticate(request, 'viewer');
      return { items: orchestrator.definitions() };
    }),
  );

  app.get<{ Params: { id: string } }>(
    '/api/definitions/:id',
    sync((request) => {
      authenticate(request, 'viewer');
      const definition = orchestrator.definition(request.params.id);
      if (definition === undefined) {
        throw new OrchestratorError('ORCH_WORKFLOW_UNKNOWN', `no deployed workflow ${request.params.id}`);
      }
      return definition;
    }),
  );

  app.post(
    '/api/validate',
    sync((request) => {
      authenticate(request, 'engineer');
      return orchestrator.validate(request.body);
    }),
  );

  app.post('/api/simulate', async (request) => {
    authenticate(request, 'engineer');
    const body = parse(simulateSchema, request.body);
    return orchestrator.simulate(body.definition, simulationOptions(body));
  });

  app.post('/api/emergency-stop', async (request) => {
    const user = authenticate(request, 'operator');
    const body = parse(z.object({ reason: z.string().min(1).max(1024) }).strict(), request.body);
    return orchestrator.emergencyStop(actor(user), body.reason);
  });

  app.post(
    '/api/reset',
    sync((request) => {
      const user = authenticate(request, 'engineer');
      const body = parse(verbBody, request.body);
      return orchestrator.reset(actor(user), body.reason);
    }),
  );

  app.get(
    '/api/users',
    sync((request) => {
      authenticate(request, 'admin');
      return { items: orchestrator.users.list(), roles: baseRoles };
    }),
  );

  app.post('/api/users', async (request, reply) => {
    const user = authenticate(request, 'admin');
    const body = parse(userBody, request.body);
    const created = await orchestrator.users.create(body.name, body.password, body.roles);
    orchestrator.emitter.audit({
      actor: actor(user),
      action: 'user.create',
      target: { type: 'user', id: body.name },
      after: { roles: body.roles },
    });
    return reply.status(201).send(created);
  });

  app.get('/api/events', async (request, reply) => {
    authenticate(request, 'viewer');
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    raw.write(': connected\n\n');
    streams.add(reply);
    const stop = orchestrator.emitter.onLive((channel, body) => {
      raw.write(`event: ${channel}\ndata: ${JSON.stringify(body)}\n\n`);
    });
    const heartbeat = setInterval(() => raw.write(': ping\n\n'), 15_000);
    request.raw.on('close', () => {
      clearInterval(heartbeat);
      stop();
      streams.delete(reply);
    });
  });

  return {
    name: 'http',
    async start() {
      await app.listen({ host: options.host, port: options.port });
      const address = app.server.address();
      boundPort = typeof address === 'object' && address !== null ? address.port : options.port;
      log.info('console API listening', { host: options.host, port: boundPort });
    },
    async close() {
      for (const stream of streams) stream.raw.end();
      streams.clear();
      await app.close();
    },
    port: () => boundPort,
  };
}
