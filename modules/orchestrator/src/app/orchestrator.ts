/**
 * The orchestrator service: the engine wired to the plant. Every way in (direct methods, the HTTP
 * console, production orders, tag triggers, schedules) calls the verbs here; every way out (status,
 * audit, alerts) goes through the {@link Emitter} into the durable outbox; device actions go to the
 * opcua-connector through {@link ConnectorClient}.
 */
import { join } from 'node:path';
import {
  type BindResult,
  type Logger,
  Outbox,
  type PnpAck,
  type PropertyVerdict,
  type SqliteDatabase,
  type WritableProperty,
  errorMessage,
  isCodedError,
  pnpAck,
  withTimeout,
} from '@takt/edge-kit';
import {
  type DispatchCommand,
  type InstanceView,
  type NotifyCommand,
  type Runner,
  type SimulationOptions,
  createRunner,
  simulate,
  terminalStatuses,
} from '@takt/engine';
import {
  type Json,
  type JsonObject,
  type ValidationResult,
  type WorkflowDefinition,
  evaluateTemplate,
  isTruthy,
  validateWorkflow,
} from '@takt/workflow';
import { DeviceError } from '../domain/device-errors.js';
import { type DeployedWorkflow, DefinitionRegistry } from '../domain/definitions.js';
import { ReferenceCache } from '../domain/references.js';
import {
  type Recipe,
  type ResolvedSettings,
  defaultSettings,
  recipeSchema,
  settingsSchema,
  zodProblems,
} from '../domain/settings.js';
import { type User, UserStore, hasRole } from '../domain/users.js';
import { ConnectorClient } from '../edge/connector.js';
import { type AuditInput, type AuditRecord, Emitter, type StatusEvent, stableId } from '../edge/emitter.js';
import { OrchestratorError } from '../errors.js';
import { openStateDatabase } from '../store.js';
import { type WorkflowTelemetry, noTelemetry } from '../telemetry/telemetry.js';
import { type TagMessage, TagRouter } from './tag-router.js';
import { PhaseDriver, type PhaseUnit } from './phases.js';
import { Scheduler } from './scheduler.js';

/** Who does something: a signed-in user, or a module / trigger. */
export interface Actor {
  type: 'user' | 'module';
  id: string;
}

/** Calls a direct method of another module through edgeHub. */
export type InvokeModule = (
  moduleId: string,
  method: string,
  payload: unknown,
  responseTimeoutS: number,
) => Promise<{ status: number; payload: unknown }>;

export interface OrchestratorOptions {
  dataDir: string;
  logger: Logger;
  invokeModule: InvokeModule;
  now?: () => number;
  adminUser?: string;
  adminPassword?: string;
  telemetry?: WorkflowTelemetry;
}

export interface StartRequest {
  workflowId: string;
  version?: string;
  parameters?: JsonObject;
  recipe?: string;
  idempotencyKey?: string;
  correlationId?: string;
}

export interface StartAnswer {
  instanceId: string;
  created: boolean;
  workflowId: string;
  workflowVersion: string;
}

export interface DecisionRequest {
  instanceId: string;
  taskId?: string;
  user: string;
  password: string;
  meaning?: string;
  reason?: string;
  comment?: string;
}

export interface TaskRow {
  taskId: string;
  instanceId: string;
  workflowId: string;
  stepId: string;
  kind: string;
  roles: string[];
  instructions: string;
  meaning: string | null;
  signature: boolean;
  openedAt: string;
  /** For an in-doubt task: the device action and its args (`{action, args, idempotencyKey}`). */
  details?: JsonObject;
}

export interface InstanceSummary {
  instanceId: string;
  workflowId: string;
  workflowVersion: string;
  status: string;
  correlationId: string | null;
  createdAt: string;
  updatedAt: string;
}

interface OrderBody {
  orderId: string;
  workflowId?: string;
  recipe?: string;
  parameters?: JsonObject;
  priority?: number;
  dueAt?: string;
}

const ACTIVE_STATUSES = ['running', 'holding', 'held', 'stopping', 'aborting', 'compensating'];

/** The orchestrator; create, `start()`, then hand its twin properties and verbs to the edge adapter. */
export class Orchestrator {
  readonly db: SqliteDatabase;
  readonly outbox: Outbox;
  readonly emitter: Emitter;
  readonly users: UserStore;
  readonly registry: DefinitionRegistry;
  readonly runner: Runner;
  readonly connector: ConnectorClient;
  readonly tags: TagRouter;
  readonly scheduler: Scheduler;
  readonly phases: PhaseDriver;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly telemetry: WorkflowTelemetry;
  private settings: ResolvedSettings = defaultSettings;
  private readonly recipes = new Map<string, Recipe>();
  private lastError: { code: string; message: string; at: string } | undefined;
  private recovered = false;
  private closed = false;
  private orderTimer: NodeJS.Timeout | undefined;
  private processingOrders = false;
  private configured = false;
  private markConfigured: () => void = () => undefined;
  /** Resolved once the first full twin was applied (settings and definitions known). */
  private readonly configuredGate = new Promise<void>((resolve) => {
    this.markConfigured = resolve;
  });
  private reporter:
    { report: (patch: Record<string, unknown>) => Promise<void>; desiredVersion: () => number } | undefined;
  private ordersAgain = false;
  private readonly stmt;

  constructor(private readonly options: OrchestratorOptions) {
    this.log = options.logger.child({ component: 'orchestrator' });
    this.now = options.now ?? Date.now;
    this.telemetry = options.telemetry ?? noTelemetry;
    this.db = openStateDatabase(join(options.dataDir, 'orchestrator.db'));
    this.outbox = new Outbox(this.db);
    this.emitter = new Emitter(this.db, this.outbox, this.now);
    this.users = new UserStore(this.db, this.now);
    this.runner = createRunner({
      file: join(options.dataDir, 'engine.db'),
      dispatch: (command, signal) => this.dispatch(command, signal),
      notify: (command) => this.notify(command),
      now: this.now,
      logger: options.logger,
    });
    this.registry = new DefinitionRegistry(
      (def) => this.runner.register(def),
      this.now,
      new ReferenceCache(options.dataDir),
      (key, value, problem) => this.onReference(key, value, problem),
    );
    this.connector = new ConnectorClient({
      logger: options.logger,
      invoke: (method, payload) =>
        options.invokeModule(this.settings.connectorModuleId, method, payload, this.settings.deviceTimeoutS),
    });
    this.phases = new PhaseDriver({
      connector: this.connector,
      logger: options.logger,
      report: (instanceId, commandId, state) => this.runner.phaseState(instanceId, commandId, state),
    });
    this.tags = new TagRouter({
      logger: options.logger,
      now: this.now,
      connector: this.connector,
      settings: () => this.settings,
      deliver: (instanceId, values) => this.runner.tags(instanceId, values),
      trigger: (workflowId, request) => this.startFromTrigger(workflowId, request),
    });
    this.scheduler = new Scheduler({
      db: this.db,
      logger: options.logger,
      now: this.now,
      trigger: (workflowId, request) => this.startFromTrigger(workflowId, request),
    });
    this.stmt = {
      instance: this.db.prepare<[string], { instance_id: string }>(
        'SELECT instance_id FROM instances WHERE instance_id = ?',
      ),
      upsertInstance: this.db.prepare(
        `INSERT INTO instances (instance_id, workflow_id, workflow_version, status, has_resources, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (instance_id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at`,
      ),
      setCorrelation: this.db.prepare('UPDATE instances SET correlation_id = ? WHERE instance_id = ?'),
      active: this.db.prepare<string[], { instance_id: string; has_resources: number }>(
        `SELECT instance_id, has_resources FROM instances WHERE status IN (${ACTIVE_STATUSES.map(() => '?').join(',')})`,
      ),
      openTask: this.db.prepare(
        `INSERT OR IGNORE INTO tasks (task_id, instance_id, step_id, kind, roles, instructions, meaning, signature, workflow_id, opened_at, details)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      closeTask: this.db.prepare('UPDATE tasks SET closed_at = ? WHERE task_id = ? AND closed_at IS NULL'),
      getFlag: this.db.prepare<[string], string>('SELECT value FROM flags WHERE name = ?').pluck(),
      setFlag: this.db.prepare(
        'INSERT INTO flags (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value',
      ),
      clearFlag: this.db.prepare('DELETE FROM flags WHERE name = ?'),
      addOrder: this.db.prepare('INSERT OR IGNORE INTO pending_orders (order_id, body, received_at) VALUES (?, ?, ?)'),
      orders: this.db.prepare<[], { order_id: string; body: string }>(
        'SELECT order_id, body FROM pending_orders ORDER BY received_at LIMIT 100',
      ),
      deleteOrder: this.db.prepare('DELETE FROM pending_orders WHERE order_id = ?'),
    };
  }

  // ------------------------------------------------------------------------------------------ lifecycle

  /** Recovers the engine (resumes every in-flight instance) and creates the first admin. */
  async start(): Promise<void> {
    await this.users.ensureAdmin(this.options.adminUser, this.options.adminPassword);
    const report = await this.runner.start();
    this.log.info('engine recovered', { ...report });
    this.recovered = true;
    this.scheduleOrders(0);
  }

  get isRecovered(): boolean {
    return this.recovered;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.orderTimer !== undefined) clearTimeout(this.orderTimer);
    this.scheduler.close();
    this.tags.close();
    await this.runner.close();
    this.db.close();
  }

  /** Called when the edge connection is (re)established: the connector may have restarted. */
  onConnected(): void {
    if (!this.configured) {
      // The full twin is applied now: definitions and settings are known. Condition waits,
      // interlocks and started phases of resumed instances need their watches again.
      this.configured = true;
      this.markConfigured();
      for (const row of this.activeRows()) this.rewatch(row.instance_id);
      // Settings (tag names → node ids, default endpoint) are in force now: the connector watches start
      // and tag values are routed (the ones that came before, too).
      this.tags.setConfigured();
    } else {
      this.tags.rewatchAll();
    }
    this.scheduleOrders(0);
  }

  // ------------------------------------------------------------------------------------------ twin

  /** The writable properties: `workflows` and `recipes` (entries), `settings` (whole). */
  twinProperties(): WritableProperty[] {
    return [
      { name: 'workflows', mode: 'entries', validate: (value, key) => this.registry.validateEntry(value, key) },
      {
        name: 'recipes',
        mode: 'entries',
        validate: (value) => {
          const parsed = recipeSchema.safeParse(value);
          return parsed.success ? { ok: true, value: parsed.data } : { ok: false, problems: zodProblems(parsed.error) };
        },
      },
      {
        name: 'settings',
        mode: 'whole',
        validate: (value) => {
          const parsed = settingsSchema.safeParse(value);
          return parsed.success ? { ok: true, value: parsed.data } : { ok: false, problems: zodProblems(parsed.error) };
        },
      },
    ];
  }

  /** Applies what the twin binder accepted or removed; runs before the acks are reported. */
  onTwinChange(result: BindResult): void {
    for (const change of result.accepted) {
      if (change.property === 'workflows' && change.key !== undefined) {
        const workflow = change.value as DeployedWorkflow;
        const previous = this.registry.deploy(workflow);
        if (previous?.hash !== workflow.hash) {
          this.tags.prefetch(interlockTagsOf(workflow.definition));
          this.tags.setTriggers(workflow.id, workflow.definition);
          this.scheduler.setTriggers(workflow.id, workflow.definition);
        }
        // Audited once per change, not again for every full twin after a reconnect or restart.
        if (this.changed(`workflow:${workflow.id}`, workflow.hash)) {
          this.emitter.audit({
            actor: { type: 'module', id: 'iothub-twin' },
            action: 'definition.deploy',
            target: { type: 'workflow', id: workflow.id },
            ...(previous === undefined ? {} : { before: { version: previous.version, hash: previous.hash } }),
            after: { version: workflow.version, hash: workflow.hash, twinVersion: result.version },
            correlation: { workflowId: workflow.id, workflowVersion: workflow.version },
          });
        }
      } else if (change.property === 'recipes' && change.key !== undefined) {
        this.recipes.set(change.key, change.value as Recipe);
        if (this.changed(`recipe:${change.key}`, stableId(JSON.stringify(change.value))))
          this.emitter.audit({
            actor: { type: 'module', id: 'iothub-twin' },
            action: 'recipe.deploy',
            target: { type: 'recipe', id: change.key },
            after: change.value,
          });
      } else if (change.property === 'settings') {
        this.settings = change.value as ResolvedSettings;
        this.emitter.setContext({
          ...(this.settings.site === undefined ? {} : { site: this.settings.site }),
          ...(this.settings.line === undefined ? {} : { line: this.settings.line }),
          ...(this.settings.unit === undefined ? {} : { unit: this.settings.unit }),
        });
        if (this.changed('settings', stableId(JSON.stringify(change.value))))
          this.emitter.audit({
            actor: { type: 'module', id: 'iothub-twin' },
            action: 'settings.change',
            target: { type: 'settings', id: 'orchestrator' },
            after: change.value,
          });
        this.tags.rewatchAll();
      }
    }
    for (const removed of result.removed) {
      if (removed.property === 'workflows' && removed.key !== undefined) {
        const previous = this.registry.remove(removed.key);
        this.stmt.clearFlag.run(`deployed:workflow:${removed.key}`);
        this.tags.setTriggers(removed.key, undefined);
        this.scheduler.setTriggers(removed.key, undefined);
        if (previous !== undefined) {
          this.emitter.audit({
            actor: { type: 'module', id: 'iothub-twin' },
            action: 'definition.delete',
            target: { type: 'workflow', id: removed.key },
            before: { version: previous.version, hash: previous.hash },
            correlation: { workflowId: removed.key, workflowVersion: previous.version },
          });
        }
      } else if (removed.property === 'recipes' && removed.key !== undefined) {
        this.recipes.delete(removed.key);
      } else if (removed.property === 'settings') {
        this.settings = defaultSettings;
      }
    }
    for (const rejected of result.rejected) {
      // A reference being fetched is not a rejection yet; its outcome is audited when it is known.
      if (rejected.problems.every((p) => p.startsWith('REFERENCE_PENDING'))) continue;
      this.emitter.audit({
        actor: { type: 'module', id: 'iothub-twin' },
        action: 'definition.reject',
        target: { type: rejected.property, id: rejected.key ?? rejected.property },
        after: { problems: rejected.problems.slice(0, 20), twinVersion: result.version },
      });
    }
  }

  /** How to report properties and which desired `$version` is held (set by the edge adapter). */
  setReporter(report: (patch: Record<string, unknown>) => Promise<void>, desiredVersion: () => number): void {
    this.reporter = { report, desiredVersion };
  }

  /** A definition by reference was fetched and verified (or failed): judge it again and acknowledge it. */
  private onReference(key: string, value: unknown, problem: string | undefined): void {
    const av = this.reporter?.desiredVersion() ?? 0;
    const verdict: PropertyVerdict<DeployedWorkflow> =
      problem === undefined ? this.registry.validateEntry(value, key) : { ok: false, problems: [problem] };
    let ack: PnpAck;
    if (verdict.ok) {
      this.onTwinChange({
        status: 'applied',
        version: av,
        accepted: [{ property: 'workflows', key, value: verdict.value }],
        removed: [],
        rejected: [],
        reported: {},
      });
      ack = pnpAck(verdict.ackValue ?? null, 200, av);
    } else {
      this.onTwinChange({
        status: 'applied',
        version: av,
        accepted: [],
        removed: [],
        rejected: [{ property: 'workflows', key, problems: verdict.problems }],
        reported: {},
      });
      ack = pnpAck(
        this.registry.get(key) === undefined ? null : { version: this.registry.get(key)?.version ?? null },
        400,
        av,
        verdict.problems.join('; ').slice(0, 512),
      );
    }
    this.reporter?.report({ workflows: { [key]: ack } }).catch((error: unknown) => {
      this.log.warn('could not acknowledge a fetched reference', { workflowId: key, error: errorMessage(error) });
    });
  }

  /** Engine health for the reported properties (compact). */
  health(): JsonObject {
    const definitions: JsonObject = {};
    for (const w of this.registry.all()) {
      definitions[twinKey(w.id)] = { id: w.id, version: w.version, hash: w.hash.slice(0, 16) };
    }
    const out: JsonObject = {
      recovered: this.recovered,
      emergencyStop: this.emergencyStopActive(),
      instances: this.runner.counts(),
      active: this.runner.activeCount,
      definitions,
      // An array, not an object keyed by endpoint URL: reported property names cannot contain '.', '$', '#' or ' '.
      breakers: Object.entries(this.connector.health()).map(([endpoint, state]) => ({ endpoint, state })),
      outbox: this.outbox.size(),
    };
    if (this.lastError !== undefined) out['lastError'] = { ...this.lastError };
    return out;
  }

  settingsNow(): ResolvedSettings {
    return this.settings;
  }

  // ------------------------------------------------------------------------------------------ verbs

  async startWorkflow(request: StartRequest, actor: Actor): Promise<StartAnswer> {
    if (this.emergencyStopActive()) {
      throw new OrchestratorError('ORCH_EMERGENCY_STOP', 'an emergency stop is active; call reset first');
    }
    const deployed = this.registry.get(request.workflowId);
    if (deployed === undefined) {
      throw new OrchestratorError('ORCH_WORKFLOW_UNKNOWN', `no deployed workflow ${request.workflowId}`, {
        details: { workflowId: request.workflowId },
      });
    }
    if (request.version !== undefined && request.version !== deployed.version) {
      throw new OrchestratorError(
        'ORCH_WORKFLOW_UNKNOWN',
        `workflow ${request.workflowId} is deployed in version ${deployed.version}, not ${request.version}`,
        { details: { workflowId: request.workflowId, version: request.version, deployed: deployed.version } },
      );
    }
    let params: JsonObject = {};
    if (request.recipe !== undefined) {
      const recipe = this.recipes.get(request.recipe);
      if (recipe === undefined) {
        throw new OrchestratorError('ORCH_RECIPE_UNKNOWN', `no recipe ${request.recipe}`, {
          details: { recipe: request.recipe },
        });
      }
      if (recipe.workflowId !== undefined && recipe.workflowId !== request.workflowId) {
        throw new OrchestratorError(
          'ORCH_REQUEST_INVALID',
          `recipe ${request.recipe} is for workflow ${recipe.workflowId}, not ${request.workflowId}`,
          { details: { problems: [{ path: 'recipe', message: `belongs to ${recipe.workflowId}` }] } },
        );
      }
      params = { ...(recipe.parameters as JsonObject) };
    }
    params = { ...params, ...(request.parameters ?? {}) };
    const interlockTags = interlockTagsOf(deployed.definition);
    await this.readMissingTags(interlockTags);
    const result = await this.runner.startInstance({
      hash: deployed.hash,
      params,
      tags: this.tags.values(interlockTags),
      ...(request.idempotencyKey === undefined ? {} : { idempotencyKey: request.idempotencyKey }),
    });
    if (result.created) {
      if (request.correlationId !== undefined) this.stmt.setCorrelation.run(request.correlationId, result.instanceId);
      if (interlockTags.length > 0) this.tags.watch(result.instanceId, interlockTags);
      this.emitter.audit({
        actor,
        action: 'instance.started',
        target: { type: 'instance', id: result.instanceId },
        after: {
          parameters: params,
          ...(request.recipe === undefined
            ? {}
            : { recipe: { id: request.recipe, parameters: this.recipes.get(request.recipe)?.parameters ?? {} } }),
          ...(request.idempotencyKey === undefined ? {} : { idempotencyKey: request.idempotencyKey }),
          ...(request.correlationId === undefined ? {} : { correlationId: request.correlationId }),
        },
        correlation: this.correlation(result.instanceId, deployed.id, deployed.version, params),
      });
    }
    return {
      instanceId: result.instanceId,
      created: result.created,
      workflowId: deployed.id,
      workflowVersion: deployed.version,
    };
  }

  async control(
    verb: 'hold' | 'restart' | 'stop' | 'abort' | 'cancel',
    instanceId: string,
    actor: Actor,
    reason?: string,
  ): Promise<{ instanceId: string; status: string }> {
    if (verb === 'restart' && this.emergencyStopActive()) {
      throw new OrchestratorError('ORCH_EMERGENCY_STOP', 'an emergency stop is active; call reset first');
    }
    const before = this.runner.query(instanceId);
    const options = { user: actor.id, ...(reason === undefined ? {} : { reason }) };
    await this.runner[verb](instanceId, options);
    const after = this.runner.query(instanceId);
    this.emitter.audit({
      actor,
      action: `instance.${verb}`,
      target: { type: 'instance', id: instanceId },
      before: { status: before.status },
      after: { status: after.status },
      ...(reason === undefined ? {} : { reason }),
      correlation: this.correlation(instanceId, before.workflowId, before.workflowVersion, before.params),
    });
    return { instanceId, status: after.status };
  }

  async signal(instanceId: string, name: string, payload: Json | undefined, actor: Actor): Promise<void> {
    const view = this.runner.query(instanceId);
    await this.runner.signal(instanceId, name, payload);
    this.emitter.audit({
      actor,
      action: 'instance.signal',
      target: { type: 'instance', id: instanceId },
      after: { name, ...(payload === undefined ? {} : { payload }) },
      correlation: this.correlation(instanceId, view.workflowId, view.workflowVersion, view.params),
    });
  }

  /**
   * Approves or rejects a human task with an electronic signature: the user re-enters the password,
   * must hold one of the roles the step names, and gives the meaning and a reason; the signature goes
   * into the engine's decision and into the audit record.
   */
  async decide(
    decision: 'approve' | 'reject',
    request: DecisionRequest,
    sessionUser?: User,
  ): Promise<{ taskId: string }> {
    const task = this.findTask(request.instanceId, request.taskId);
    if (sessionUser !== undefined && sessionUser.name !== request.user) {
      throw new OrchestratorError('ORCH_SIGNATURE_INVALID', 'the signer must be the signed-in user', {
        details: { problems: [{ path: 'user', message: 'must be the signed-in user' }] },
      });
    }
    const meaning = request.meaning ?? task.meaning ?? undefined;
    if (task.signature && (request.reason === undefined || request.reason.trim() === '' || meaning === undefined)) {
      throw new OrchestratorError('ORCH_SIGNATURE_INVALID', 'an electronic signature needs a meaning and a reason', {
        details: {
          problems: [
            ...(request.reason === undefined || request.reason.trim() === ''
              ? [{ path: 'reason', message: 'required' }]
              : []),
            ...(meaning === undefined ? [{ path: 'meaning', message: 'required' }] : []),
          ],
        },
      });
    }
    let user: User;
    try {
      user = await this.users.verify(request.user, request.password);
    } catch (error) {
      this.emitter.audit({
        actor: { type: 'user', id: request.user },
        action: `approval.${decision}.refused`,
        target: { type: 'task', id: task.taskId },
        reason: 'authentication failed',
        correlation: { instanceId: task.instanceId, workflowId: task.workflowId },
      });
      throw error;
    }
    const needed = task.roles.length > 0 ? task.roles : ['operator'];
    const role = needed.find((r) => hasRole(user, r));
    if (role === undefined) {
      this.emitter.audit({
        actor: { type: 'user', id: user.name },
        action: `approval.${decision}.refused`,
        target: { type: 'task', id: task.taskId },
        reason: `missing role (needs one of ${needed.join(', ')})`,
        correlation: { instanceId: task.instanceId, workflowId: task.workflowId },
      });
      throw new OrchestratorError('ORCH_FORBIDDEN', `user ${user.name} has none of the roles ${needed.join(', ')}`, {
        details: { needs: needed },
      });
    }
    const at = new Date(this.now()).toISOString();
    // The audit module's signature block (21 CFR 11.50); the reason goes into the record's `reason`.
    const signature = meaning === undefined ? undefined : { signer: user.name, meaning, time: at, method: 'password' };
    const engineDecision = {
      user: user.name,
      role,
      ...(signature === undefined ? {} : { signature: { ...signature, reason: request.reason ?? '' } }),
      ...(request.comment === undefined ? {} : { comment: request.comment }),
    };
    const view = this.runner.query(task.instanceId);
    if (decision === 'approve') await this.runner.approve(task.instanceId, task.taskId, engineDecision);
    else await this.runner.reject(task.instanceId, task.taskId, engineDecision);
    const record: AuditInput = {
      actor: { type: 'user', id: user.name },
      action: `approval.${decision}`,
      target: { type: 'task', id: task.taskId },
      after: {
        decision,
        role,
        stepId: task.stepId,
        ...(request.comment === undefined ? {} : { comment: request.comment }),
      },
      ...(request.reason === undefined ? {} : { reason: request.reason }),
      ...(signature === undefined ? {} : { signature }),
      correlation: {
        ...this.correlation(task.instanceId, view.workflowId, view.workflowVersion, view.params),
        stepId: task.stepId,
      },
    };
    this.emitter.audit(record);
    return { taskId: task.taskId };
  }

  /**
   * Answers an in-doubt device write (the operator checked the device): `succeeded`, `retry` (a new,
   * visible attempt) or `failed` (`WF_IN_DOUBT_FAILED`).
   */
  async resolveInDoubt(
    instanceId: string,
    taskId: string,
    outcome: 'succeeded' | 'retry' | 'failed',
    actor: Actor,
    reason?: string,
  ): Promise<{ taskId: string; outcome: string }> {
    const task = this.listTasks(instanceId).find((t) => t.taskId === taskId && t.kind === 'inDoubt');
    if (task === undefined) {
      throw new OrchestratorError('ORCH_TASK_NOT_FOUND', `no open in-doubt task ${taskId} on instance ${instanceId}`, {
        details: { instanceId, taskId },
      });
    }
    const view = this.runner.query(instanceId);
    await this.runner.resolveInDoubt(instanceId, taskId, outcome, actor.id);
    this.emitter.audit({
      actor,
      action: 'device.inDoubt.resolved',
      target: { type: 'task', id: taskId },
      after: { outcome, stepId: task.stepId },
      ...(reason === undefined ? {} : { reason }),
      correlation: {
        ...this.correlation(instanceId, view.workflowId, view.workflowVersion, view.params),
        stepId: task.stepId,
      },
    });
    return { taskId, outcome };
  }

  /** Every active instance that holds or declares resources is aborted (its `onAbort` safe state); the rest are held. */
  async emergencyStop(actor: Actor, reason: string): Promise<{ aborted: string[]; held: string[]; failed: string[] }> {
    this.stmt.setFlag.run(
      'emergencyStop',
      JSON.stringify({ by: actor.id, reason, at: new Date(this.now()).toISOString() }),
    );
    this.emitter.alert({
      alertId: stableId('estop', this.now()),
      severity: 'critical',
      code: 'ORCH_EMERGENCY_STOP',
      message: `emergency stop by ${actor.id}: ${reason}`,
    });
    this.emitter.audit({
      actor,
      action: 'emergencyStop',
      target: { type: 'module', id: 'orchestrator' },
      reason,
      after: { emergencyStop: true },
    });
    const aborted: string[] = [];
    const held: string[] = [];
    const failed: string[] = [];
    for (const row of this.activeRows()) {
      const id = row.instance_id;
      let view: InstanceView;
      try {
        view = this.runner.query(id);
      } catch {
        continue; // ended meanwhile
      }
      if (terminalStatuses.has(view.status)) continue;
      const def = this.registry.all().find((w) => w.hash === view.definitionHash)?.definition;
      const withResources =
        Object.keys(view.state.resources).length > 0 ||
        row.has_resources === 1 ||
        (def !== undefined && (def.resources !== undefined || def.onAbort !== undefined));
      try {
        if (withResources) {
          if (view.status !== 'aborting')
            await this.runner.abort(id, { user: actor.id, reason: `emergency stop: ${reason}` });
          aborted.push(id);
        } else {
          if (view.status === 'running')
            await this.runner.hold(id, { user: actor.id, reason: `emergency stop: ${reason}` });
          held.push(id);
        }
      } catch (error) {
        this.log.error('emergency stop could not act on an instance', { instanceId: id, error });
        failed.push(id);
      }
    }
    return { aborted, held, failed };
  }

  reset(actor: Actor, reason?: string): { emergencyStop: false } {
    this.stmt.clearFlag.run('emergencyStop');
    this.emitter.audit({
      actor,
      action: 'emergencyStop.reset',
      target: { type: 'module', id: 'orchestrator' },
      ...(reason === undefined ? {} : { reason }),
      after: { emergencyStop: false },
    });
    this.emitter.alert({
      alertId: stableId('estop-reset', this.now()),
      severity: 'info',
      code: 'ORCH_EMERGENCY_STOP_RESET',
      message: `emergency stop reset by ${actor.id}`,
    });
    this.scheduleOrders(0);
    return { emergencyStop: false };
  }

  emergencyStopActive(): boolean {
    return this.stmt.getFlag.get('emergencyStop') !== undefined;
  }

  getInstance(instanceId: string, history = false): JsonObject {
    const view = this.runner.query(instanceId, history ? { history: true, historyLimit: 200 } : {});
    const out: JsonObject = {
      instanceId: view.instanceId,
      workflowId: view.workflowId,
      workflowVersion: view.workflowVersion,
      definitionHash: view.definitionHash,
      status: view.status,
      params: view.params,
      vars: view.vars,
      currentSteps: view.currentSteps,
      openTasks: view.openTasks,
    };
    if (view.output !== undefined) out['output'] = view.output;
    if (view.error !== undefined) out['error'] = view.error as unknown as JsonObject;
    if (view.history !== undefined) out['history'] = view.history as unknown as Json;
    return out;
  }

  listInstances(query: { status?: string; workflowId?: string; limit?: number; offset?: number }): {
    items: InstanceSummary[];
    total: number;
    nextOffset: number | null;
  } {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (query.status !== undefined) {
      where.push('status = ?');
      args.push(query.status);
    }
    if (query.workflowId !== undefined) {
      where.push('workflow_id = ?');
      args.push(query.workflowId);
    }
    const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    const limit = Math.min(Math.max(query.limit ?? 50, 1), 500);
    const offset = Math.max(query.offset ?? 0, 0);
    const total =
      this.db
        .prepare<(string | number)[], number>(`SELECT COUNT(*) FROM instances ${clause}`)
        .pluck()
        .get(...args) ?? 0;
    const rows = this.db
      .prepare<
        (string | number)[],
        {
          instance_id: string;
          workflow_id: string;
          workflow_version: string;
          status: string;
          correlation_id: string | null;
          created_at: number;
          updated_at: number;
        }
      >(`SELECT * FROM instances ${clause} ORDER BY created_at DESC, instance_id DESC LIMIT ? OFFSET ?`)
      .all(...args, limit, offset);
    return {
      items: rows.map((r) => ({
        instanceId: r.instance_id,
        workflowId: r.workflow_id,
        workflowVersion: r.workflow_version,
        status: r.status,
        correlationId: r.correlation_id,
        createdAt: new Date(r.created_at).toISOString(),
        updatedAt: new Date(r.updated_at).toISOString(),
      })),
      total,
      nextOffset: offset + rows.length < total ? offset + rows.length : null,
    };
  }

  listTasks(instanceId?: string): TaskRow[] {
    const rows = this.db
      .prepare<
        [],
        {
          task_id: string;
          instance_id: string;
          workflow_id: string;
          step_id: string;
          kind: string;
          roles: string;
          instructions: string;
          meaning: string | null;
          signature: number;
          opened_at: number;
          details: string | null;
        }
      >('SELECT * FROM tasks WHERE closed_at IS NULL ORDER BY opened_at LIMIT 500')
      .all();
    return rows
      .filter((r) => instanceId === undefined || r.instance_id === instanceId)
      .map((r) => ({
        taskId: r.task_id,
        instanceId: r.instance_id,
        workflowId: r.workflow_id,
        stepId: r.step_id,
        kind: r.kind,
        roles: JSON.parse(r.roles) as string[],
        instructions: r.instructions,
        meaning: r.meaning,
        signature: r.signature === 1,
        openedAt: new Date(r.opened_at).toISOString(),
        ...(r.details === null ? {} : { details: JSON.parse(r.details) as JsonObject }),
      }));
  }

  definitions(): JsonObject[] {
    return this.registry.statuses().map((s) => ({ ...s }));
  }

  definition(id: string): WorkflowDefinition | undefined {
    return this.registry.get(id)?.definition;
  }

  validate(definition: unknown): ValidationResult {
    return validateWorkflow(definition);
  }

  async simulate(definition: unknown, options: SimulationOptions): Promise<JsonObject> {
    const checked = validateWorkflow(definition);
    if (!checked.valid) {
      return { valid: false, problems: checked.problems as unknown as Json };
    }
    const run = await simulate(definition as WorkflowDefinition, { maxEvents: 20_000, ...options });
    return {
      valid: true,
      status: run.status,
      virtualMs: run.virtualMs,
      vars: run.vars,
      ...(run.output === undefined ? {} : { output: run.output }),
      ...(run.error === undefined ? {} : { error: run.error as unknown as JsonObject }),
      dispatched: run.dispatched.map((d) => ({ stepId: d.stepId, action: d.action, attempt: d.attempt, args: d.args })),
      events: run.trace.length,
    };
  }

  // ------------------------------------------------------------------------------------------ inputs

  /** A `tags` input message: unit states of running phases, tag values for waits, interlocks and triggers. */
  onTagMessage(message: TagMessage): void {
    this.phases.onTag(message);
    this.tags.onMessage(message);
  }

  /**
   * The `orders` input (from cloud-bridge): stored in the inbox transaction, then started (idempotent on
   * `orderId`) once the engine is up. Throws ORCH_REQUEST_INVALID for a malformed body.
   */
  acceptOrder(order: { orderId: string; workflowId?: string | undefined }, body: string): void {
    this.stmt.addOrder.run(order.orderId, body, this.now());
    this.scheduleOrders(0);
  }

  private scheduleOrders(delayMs: number): void {
    if (this.closed || !this.recovered) return;
    if (this.orderTimer !== undefined) clearTimeout(this.orderTimer);
    this.orderTimer = setTimeout(() => {
      this.orderTimer = undefined;
      void this.processOrders();
    }, delayMs);
  }

  private async processOrders(): Promise<void> {
    if (this.processingOrders) {
      this.ordersAgain = true;
      return;
    }
    this.processingOrders = true;
    let retryLater = false;
    try {
      for (const row of this.stmt.orders.all()) {
        if (this.closed) return;
        const order = JSON.parse(row.body) as OrderBody;
        try {
          for (const request of await this.orderStarts(order)) {
            await this.startWorkflow(request, { type: 'module', id: 'orders' });
          }
          this.stmt.deleteOrder.run(row.order_id);
        } catch (error) {
          if (this.closed) return;
          if (isCodedError(error) && (error.retryable || error.code === 'ORCH_EMERGENCY_STOP')) {
            retryLater = true;
            continue;
          }
          this.stmt.deleteOrder.run(row.order_id);
          this.recordError(error);
          this.emitter.alert({
            alertId: stableId('order-rejected', row.order_id),
            severity: 'warning',
            code: isCodedError(error) ? error.code : 'ORCH_REQUEST_INVALID',
            message: `order ${row.order_id} not started: ${errorMessage(error)}`,
            ...(order.workflowId === undefined ? {} : { workflowId: order.workflowId }),
          });
        }
      }
    } finally {
      this.processingOrders = false;
    }
    if (this.ordersAgain) {
      this.ordersAgain = false;
      this.scheduleOrders(0);
      return;
    }
    if (retryLater && !this.emergencyStopActive()) this.scheduleOrders(5_000);
  }

  /**
   * What an order starts: the workflow it names (key `order:<orderId>`), or — without `workflowId` —
   * every deployed workflow whose `message` trigger on input `orders` matches (`filter` over `event`,
   * `parameters` and `idempotencyKey` templates; default key `order:<orderId>:<workflowId>`).
   */
  private async orderStarts(order: OrderBody): Promise<StartRequest[]> {
    const base = {
      correlationId: order.orderId,
      ...(order.recipe === undefined ? {} : { recipe: order.recipe }),
    };
    if (order.workflowId !== undefined) {
      return [
        {
          ...base,
          workflowId: order.workflowId,
          idempotencyKey: `order:${order.orderId}`,
          ...(order.parameters === undefined ? {} : { parameters: order.parameters }),
        },
      ];
    }
    const event = JSON.parse(JSON.stringify(order)) as JsonObject;
    const scope = { event };
    const options = { nowMs: this.now() };
    const out: StartRequest[] = [];
    for (const workflow of this.registry.all()) {
      for (const trigger of workflow.definition.triggers ?? []) {
        if (trigger.kind !== 'message' || trigger.input !== 'orders' || trigger.enabled === false) continue;
        if (trigger.filter !== undefined && !isTruthy(await evaluateTemplate(trigger.filter, scope, options))) continue;
        const templated =
          trigger.parameters === undefined ? undefined : await evaluateTemplate(trigger.parameters, scope, options);
        const parameters =
          templated !== undefined && templated !== null && typeof templated === 'object' && !Array.isArray(templated)
            ? templated
            : order.parameters;
        const key =
          trigger.idempotencyKey === undefined
            ? undefined
            : await evaluateTemplate(trigger.idempotencyKey, scope, options);
        out.push({
          ...base,
          workflowId: workflow.id,
          idempotencyKey:
            typeof key === 'string' || typeof key === 'number'
              ? `order:${workflow.id}:${key}`
              : `order:${order.orderId}:${workflow.id}`,
          ...(parameters === undefined ? {} : { parameters }),
        });
        break;
      }
    }
    if (out.length === 0) {
      throw new OrchestratorError(
        'ORCH_WORKFLOW_UNKNOWN',
        `order ${order.orderId} names no workflow and no message trigger matches it`,
        {
          details: { orderId: order.orderId },
        },
      );
    }
    return out;
  }

  private async startFromTrigger(
    workflowId: string,
    request: { idempotencyKey: string; parameters?: JsonObject; trigger: string },
  ): Promise<void> {
    try {
      await this.startWorkflow(
        {
          workflowId,
          idempotencyKey: request.idempotencyKey,
          ...(request.parameters === undefined ? {} : { parameters: request.parameters }),
        },
        { type: 'module', id: `trigger:${request.trigger}` },
      );
    } catch (error) {
      this.recordError(error);
      this.emitter.alert({
        alertId: stableId('trigger-failed', request.idempotencyKey),
        severity: 'warning',
        code: isCodedError(error) ? error.code : 'ORCH_REQUEST_INVALID',
        message: `${request.trigger} trigger of ${workflowId} could not start it: ${errorMessage(error)}`,
        workflowId,
      });
    }
  }

  // ------------------------------------------------------------------------------------------ engine side

  private async dispatch(command: DispatchCommand, signal: AbortSignal): Promise<Json | undefined> {
    // Commands re-dispatched during recovery run before the twin is read: wait for the settings and
    // definitions they need (tag names, unit addresses), but not forever.
    if (!this.configured) {
      await withTimeout('first twin', 60_000, () => this.configuredGate, signal).catch((error: unknown) => {
        this.log.warn('dispatching before the twin was read', { step: command.stepId, error: errorMessage(error) });
      });
    }
    const view = this.safeView(command.instanceId);
    const base = {
      instanceId: command.instanceId,
      workflowId: view?.workflowId ?? '?',
      workflowVersion: view?.workflowVersion ?? '?',
      step: command.stepId,
    };
    this.emitter.status({
      ...base,
      eventId: stableId('step.started', command.idempotencyKey),
      type: 'step.started',
      state: 'running',
    });
    const began = this.now();
    try {
      const value = await this.execute(command, view);
      // A started phase is not a completed step: the unit reports its end later.
      if (command.action.startsWith('phase.')) return value;
      this.telemetry.stepLatency(this.now() - began, { workflowId: base.workflowId, step: command.stepId, ok: true });
      this.emitter.status({
        ...base,
        eventId: stableId('step.completed', command.idempotencyKey),
        type: 'step.completed',
        state: 'completed',
      });
      return value;
    } catch (error) {
      this.telemetry.stepLatency(this.now() - began, { workflowId: base.workflowId, step: command.stepId, ok: false });
      this.recordError(error);
      this.emitter.status({
        ...base,
        eventId: stableId('step.failed', command.idempotencyKey),
        type: 'step.failed',
        state: 'failed',
        error: { code: isCodedError(error) ? error.code : 'HANDLER_FAILED', message: errorMessage(error) },
      });
      throw error;
    }
  }

  private async execute(command: DispatchCommand, view: InstanceView | undefined): Promise<Json | undefined> {
    const args = command.args;
    const correlation = {
      ...this.correlation(
        command.instanceId,
        view?.workflowId ?? '?',
        view?.workflowVersion ?? '?',
        view?.params ?? {},
      ),
      stepId: command.stepId,
    };
    const actor: Actor = { type: 'module', id: 'orchestrator' };
    switch (command.action) {
      case 'opcua.read': {
        const node = this.node(args);
        return toJsonValue(await this.connector.read(node));
      }
      case 'opcua.write': {
        const node = this.node(args);
        const value = args['value'];
        try {
          const result = await this.connector.write({
            ...node,
            value,
            correlationId: `${command.instanceId}/${command.stepId}`,
            actor: 'orchestrator',
            ...(typeof args['dataType'] === 'string' ? { dataType: args['dataType'] } : {}),
          });
          this.emitter.audit({
            id: stableId('device.write', command.idempotencyKey),
            actor,
            action: 'device.write',
            target: { type: 'node', id: `${node.endpointUrl ?? 'default'}|${node.nodeId}` },
            after: value,
            ...(typeof args['reason'] === 'string' ? { reason: args['reason'] } : {}),
            correlation,
          });
          return toJsonValue(result);
        } catch (error) {
          this.emitter.audit({
            id: stableId('device.write.failed', command.idempotencyKey),
            actor,
            action: 'device.write.failed',
            target: { type: 'node', id: `${node.endpointUrl ?? 'default'}|${node.nodeId}` },
            after: { value, error: isCodedError(error) ? error.code : errorMessage(error) },
            correlation,
          });
          throw error;
        }
      }
      case 'opcua.call': {
        const endpointUrl =
          typeof args['endpointUrl'] === 'string' ? args['endpointUrl'] : this.settings.defaultEndpointUrl;
        const objectId = typeof args['objectId'] === 'string' ? args['objectId'] : '';
        const methodId = typeof args['methodId'] === 'string' ? args['methodId'] : '';
        const inputArguments = Array.isArray(args['inputArguments'])
          ? (args['inputArguments'] as unknown[])
          : undefined;
        const result = await this.connector.call({
          objectId,
          methodId,
          ...(endpointUrl === undefined ? {} : { endpointUrl }),
          ...(inputArguments === undefined ? {} : { inputArguments }),
        });
        this.emitter.audit({
          id: stableId('device.call', command.idempotencyKey),
          actor,
          action: 'device.call',
          target: { type: 'method', id: `${endpointUrl ?? 'default'}|${methodId}` },
          after: { objectId, methodId, ...(inputArguments === undefined ? {} : { inputArguments }) },
          correlation,
        });
        return toJsonValue(result);
      }
      case 'publish': {
        const output = typeof args['output'] === 'string' ? args['output'] : 'alerts';
        if (output !== 'alerts') {
          throw new DeviceHandlerError(`publish supports output "alerts" only, not "${output}"`);
        }
        const severity = args['severity'] === 'critical' || args['severity'] === 'warning' ? args['severity'] : 'info';
        this.emitter.alert({
          alertId: stableId('publish', command.idempotencyKey),
          severity,
          code: typeof args['code'] === 'string' ? args['code'] : 'WORKFLOW_MESSAGE',
          message: typeof args['text'] === 'string' ? args['text'] : JSON.stringify(args).slice(0, 1024),
          instanceId: command.instanceId,
          step: command.stepId,
          ...(view === undefined ? {} : { workflowId: view.workflowId }),
        });
        return { published: true };
      }
      case 'audit': {
        this.emitter.audit({
          id: stableId('workflow.audit', command.idempotencyKey),
          actor,
          action: typeof args['event'] === 'string' ? `workflow.${args['event']}` : 'workflow.record',
          target: { type: 'step', id: `${command.instanceId}/${command.stepId}` },
          after: args,
          correlation,
        });
        return { recorded: true };
      }
      case 'invoke': {
        const name = typeof args['handler'] === 'string' ? args['handler'] : '';
        const handler = this.settings.handlers.find((h) => h.name === name);
        if (handler === undefined) {
          throw new DeviceHandlerError(`no invoke handler "${name}" in settings.handlers`);
        }
        let answer: { status: number; payload: unknown };
        try {
          answer = await this.options.invokeModule(
            handler.moduleId,
            handler.method,
            { ...args, idempotencyKey: command.idempotencyKey, instanceId: command.instanceId },
            this.settings.deviceTimeoutS,
          );
        } catch (error) {
          throw new DeviceHandlerError(`${handler.moduleId}.${handler.method}: ${errorMessage(error)}`, true, error);
        }
        if (answer.status < 200 || answer.status >= 300) {
          throw new DeviceHandlerError(
            `${handler.moduleId}.${handler.method} answered ${answer.status}`,
            answer.status >= 500,
          );
        }
        return toJsonValue(answer.payload);
      }
      case 'phase.start': {
        const unit = this.unitOf(view, args['unit']);
        const parameters = args['parameters'];
        return this.phases.start(unit, {
          instanceId: command.instanceId,
          commandId: command.commandId,
          name: typeof args['phase'] === 'string' ? args['phase'] : '',
          parameters:
            parameters !== null && typeof parameters === 'object' && !Array.isArray(parameters) ? parameters : {},
        });
      }
      case 'phase.command':
        return this.phases.command(
          this.unitOf(view, args['unit']),
          typeof args['command'] === 'string' ? args['command'] : '',
        );
      default:
        throw new DeviceHandlerError(`action ${command.action} is not supported by this orchestrator`);
    }
  }

  private notify(command: NotifyCommand): Promise<void> {
    try {
      this.applyNotification(command);
    } catch (error) {
      // The engine keeps the notification in its outbox and delivers it again after a restart.
      this.log.error('notification could not be stored', { type: command.type, error });
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    return Promise.resolve();
  }

  private applyNotification(command: NotifyCommand): void {
    switch (command.type) {
      case 'status': {
        const view = this.safeView(command.instanceId);
        const version = view?.workflowVersion ?? '?';
        const known = this.stmt.instance.get(command.instanceId) !== undefined;
        const type: StatusEvent['type'] = !known
          ? 'instance.started'
          : command.status === 'succeeded'
            ? 'instance.completed'
            : command.status === 'failed'
              ? 'instance.failed'
              : 'instance.state';
        const hasResources = view !== undefined && Object.keys(view.state.resources).length > 0 ? 1 : 0;
        this.db.transaction(() => {
          this.stmt.upsertInstance.run(
            command.instanceId,
            command.workflowId,
            version,
            command.status,
            hasResources,
            command.atMs,
            command.atMs,
          );
          this.emitter.status({
            eventId: stableId('status', command.instanceId, command.status, command.atMs),
            type,
            instanceId: command.instanceId,
            workflowId: command.workflowId,
            workflowVersion: version,
            state: command.status,
            at: new Date(command.atMs).toISOString(),
            ...this.summary(view?.vars),
            ...(command.error === undefined
              ? {}
              : { error: { code: command.error.code, message: command.error.message } }),
          });
          this.emitter.audit({
            id: stableId('audit.status', command.instanceId, command.status, command.atMs),
            actor: { type: 'module', id: 'orchestrator' },
            action: auditStatusAction(command.status, view?.params ?? {}),
            target: { type: 'instance', id: command.instanceId },
            after: { status: command.status, ...(command.error === undefined ? {} : { error: command.error.code }) },
            correlation: this.correlation(command.instanceId, command.workflowId, version, view?.params ?? {}),
          });
        })();
        if (terminalStatuses.has(command.status)) {
          this.tags.forget(command.instanceId);
          if (view !== undefined) {
            this.telemetry.workflowDuration(command.atMs - view.state.createdAtMs, {
              workflowId: command.workflowId,
              status: command.status,
            });
          }
          if (command.status === 'failed') {
            this.telemetry.failure({ workflowId: command.workflowId, code: command.error?.code ?? 'unknown' });
          }
        }
        return;
      }
      case 'alert': {
        const view = this.safeView(command.instanceId);
        const alertId = stableId(
          'alert',
          command.instanceId,
          command.code,
          command.stepId ?? '',
          command.message,
          this.now(),
        );
        this.emitter.alert({
          alertId,
          severity: command.severity,
          code: command.code,
          message: command.message,
          instanceId: command.instanceId,
          ...(command.stepId === undefined ? {} : { step: command.stepId }),
          ...(view === undefined ? {} : { workflowId: view.workflowId }),
        });
        this.emitter.status({
          eventId: stableId('status.alert', alertId),
          type: 'alert',
          instanceId: command.instanceId,
          workflowId: view?.workflowId ?? '?',
          workflowVersion: view?.workflowVersion ?? '?',
          state: view?.status ?? 'unknown',
          severity: command.severity,
          ...(command.stepId === undefined ? {} : { step: command.stepId }),
          error: { code: command.code, message: command.message },
        });
        return;
      }
      case 'task.open': {
        const view = this.safeView(command.instanceId);
        this.stmt.openTask.run(
          command.taskId,
          command.instanceId,
          command.stepId,
          command.kind,
          JSON.stringify(command.roles),
          command.instructions,
          command.meaning ?? null,
          command.signature === false ? 0 : 1,
          view?.workflowId ?? '?',
          this.now(),
          command.details === undefined ? null : JSON.stringify(command.details),
        );
        if (command.kind !== 'approval') {
          this.emitter.alert({
            alertId: stableId('task', command.taskId),
            severity: command.kind === 'inDoubt' ? 'critical' : 'warning',
            code: command.kind === 'inDoubt' ? 'ORCH_IN_DOUBT' : 'ORCH_ESCALATION',
            message: command.instructions,
            instanceId: command.instanceId,
            step: command.stepId,
            taskId: command.taskId,
            ...(view === undefined ? {} : { workflowId: view.workflowId }),
          });
        } else {
          this.emitter.status({
            eventId: stableId('status.task', command.taskId),
            type: 'step.started',
            instanceId: command.instanceId,
            workflowId: view?.workflowId ?? '?',
            workflowVersion: view?.workflowVersion ?? '?',
            step: command.stepId,
            state: 'awaitingApproval',
          });
        }
        return;
      }
      case 'task.close':
        this.stmt.closeTask.run(this.now(), command.taskId);
        return;
      case 'watch':
        this.tags.watch(command.instanceId, command.tags);
        return;
    }
  }

  // ------------------------------------------------------------------------------------------ helpers

  /**
   * Interlocks are checked before the first step: a tag whose value is not known yet (no watch message
   * so far) is read once through the connector. One that still has no value breaches (fail safe).
   */
  private async readMissingTags(tags: readonly string[]): Promise<void> {
    const known = this.tags.values(tags);
    for (const tag of tags) {
      if (tag in known) continue;
      try {
        const answer = (await this.connector.read(this.node({ tag }))) as { value?: unknown } | null;
        const value = toJsonValue(answer?.value);
        if (value !== undefined) this.tags.remember(tag, value);
      } catch (error) {
        this.log.warn('could not read an interlock tag before the start', { tag, error: errorMessage(error) });
      }
    }
  }

  /** Remembers the fingerprint of what is in force under `key`; true when it differs from the last one. */
  private changed(key: string, fingerprint: string): boolean {
    const name = `deployed:${key}`;
    if (this.stmt.getFlag.get(name) === fingerprint) return false;
    this.stmt.setFlag.run(name, fingerprint);
    return true;
  }

  private findTask(instanceId: string, taskId: string | undefined): TaskRow {
    const open = this.listTasks(instanceId).filter((t) => t.kind === 'approval' || t.kind === 'escalation');
    const task = taskId === undefined ? open[0] : open.find((t) => t.taskId === taskId);
    if (task === undefined) {
      throw new OrchestratorError('ORCH_TASK_NOT_FOUND', `no open approval ${taskId ?? ''} on instance ${instanceId}`, {
        details: { instanceId, ...(taskId === undefined ? {} : { taskId }) },
      });
    }
    return task;
  }

  private activeRows(): { instance_id: string; has_resources: number }[] {
    return this.stmt.active.all(...ACTIVE_STATUSES);
  }

  private rewatch(instanceId: string): void {
    const view = this.safeView(instanceId);
    if (view === undefined) return;
    const def = this.runnerDefinition(view.definitionHash);
    if (def === undefined) return;
    const tags = new Set(interlockTagsOf(def));
    for (const current of view.currentSteps) {
      const step = def.steps[current.stepId];
      if (step?.type === 'wait' && step.tags !== undefined) for (const tag of step.tags) tags.add(tag);
    }
    if (tags.size > 0) this.tags.watch(instanceId, [...tags]);
    for (const thread of Object.values(view.state.threads)) {
      const activity = thread.activity;
      const step = def.steps[thread.stepId];
      if (thread.status !== 'running' || activity.kind !== 'phase' || !activity.started || step?.type !== 'phase')
        continue;
      try {
        this.phases.resume(this.unitOf(view, step.unit), instanceId, activity.commandId);
      } catch (error) {
        this.log.warn('could not resume a phase', { instanceId, step: thread.stepId, error: errorMessage(error) });
      }
    }
  }

  private runnerDefinition(hash: string): WorkflowDefinition | undefined {
    // A definition deleted from the twin is gone from the registry; its resumed instances then run
    // without re-registered tag watches (the engine has no lookup by hash yet).
    return this.registry.all().find((w) => w.hash === hash)?.definition;
  }

  /** A phase unit: the workflow resource's `address` (the unit's node) on the default endpoint. */
  private unitOf(view: InstanceView | undefined, name: unknown): PhaseUnit {
    const def = view === undefined ? undefined : this.runnerDefinition(view.definitionHash);
    const address = typeof name === 'string' ? def?.resources?.[name]?.address : undefined;
    if (address === undefined) {
      throw new DeviceError('DEVICE_BAD_STATUS', `resource ${String(name)} has no address (the unit's node id)`, {
        resource: String(name),
      });
    }
    const endpointUrl = this.settings.defaultEndpointUrl;
    return { address, ...(endpointUrl === undefined ? {} : { endpointUrl }) };
  }

  private safeView(instanceId: string): InstanceView | undefined {
    try {
      return this.runner.query(instanceId);
    } catch {
      return undefined;
    }
  }

  private node(args: JsonObject): { nodeId: string; endpointUrl?: string } {
    const tagName = typeof args['tag'] === 'string' ? args['tag'] : undefined;
    if (tagName !== undefined) {
      const tag = this.settings.tags.find((t) => t.name === tagName);
      if (tag === undefined)
        throw new DeviceError('DEVICE_BAD_STATUS', `no tag ${tagName} in settings.tags`, { tag: tagName });
      const endpointUrl = tag.endpointUrl ?? this.settings.defaultEndpointUrl;
      return { nodeId: tag.nodeId, ...(endpointUrl === undefined ? {} : { endpointUrl }) };
    }
    const nodeId = typeof args['nodeId'] === 'string' ? args['nodeId'] : '';
    if (nodeId === '') throw new DeviceError('DEVICE_BAD_STATUS', 'the action needs args.nodeId or args.tag', {});
    const endpointUrl =
      typeof args['endpointUrl'] === 'string' ? args['endpointUrl'] : this.settings.defaultEndpointUrl;
    return { nodeId, ...(endpointUrl === undefined ? {} : { endpointUrl }) };
  }

  private summary(vars: JsonObject | undefined): { variables?: Record<string, unknown> } {
    const names = this.settings.statusVariables;
    if (names.length === 0 || vars === undefined) return {};
    const out: Record<string, unknown> = {};
    for (const name of names) {
      const value = vars[name];
      if (value === undefined) continue;
      const text = JSON.stringify(value);
      out[name] = text.length <= 256 ? value : `${text.slice(0, 250)}…`;
    }
    return { variables: out };
  }

  private correlation(
    instanceId: string,
    workflowId: string,
    workflowVersion: string,
    params: JsonObject,
  ): NonNullable<AuditRecord['correlation']> {
    const batch = params['batchId'] ?? params['batch'];
    return {
      instanceId,
      workflowId,
      workflowVersion,
      ...(typeof batch === 'string' ? { batchId: batch } : {}),
    };
  }

  private recordError(error: unknown): void {
    this.lastError = {
      code: isCodedError(error) ? error.code : 'UNKNOWN',
      message: errorMessage(error).slice(0, 256),
      at: new Date(this.now()).toISOString(),
    };
  }
}

/** An `invoke`/`publish` failure as workflows see it (`HANDLER_FAILED`). */
class DeviceHandlerError extends Error {
  readonly code = 'HANDLER_FAILED';
  constructor(
    message: string,
    readonly retryable = false,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'HandlerError';
  }
}

const BATCH_OUTCOME: Record<string, string> = {
  succeeded: 'completed',
  failed: 'failed',
  aborted: 'aborted',
  stopped: 'stopped',
  cancelled: 'cancelled',
};

/** `instance.<status>`; the end of an instance with a batch id is `batch.<outcome>` (the audit batch report reads it). */
function auditStatusAction(status: string, params: JsonObject): string {
  const outcome = BATCH_OUTCOME[status];
  const batch = params['batchId'] ?? params['batch'];
  return outcome !== undefined && typeof batch === 'string' ? `batch.${outcome}` : `instance.${status}`;
}

/** A reported-property name for `key`: the twin refuses '.', '$', '#' and whitespace in property names. */
export function twinKey(key: string): string {
  return key.replace(/[.$#\s]/g, '_');
}

function interlockTagsOf(def: WorkflowDefinition): string[] {
  const tags = new Set<string>();
  for (const interlock of def.interlocks ?? []) for (const tag of interlock.tags ?? []) tags.add(tag);
  for (const step of Object.values(def.steps)) {
    if (!('interlocks' in step)) continue;
    for (const interlock of step.interlocks ?? []) for (const tag of interlock.tags ?? []) tags.add(tag);
  }
  return [...tags];
}

function toJsonValue(value: unknown): Json | undefined {
  if (value === undefined) return undefined;
  return JSON.parse(JSON.stringify(value)) as Json;
}
