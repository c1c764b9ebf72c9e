/**
 * `takt`: a small command-line client of a running suite. It talks to the edgeHub emulator's control
 * API as a back end talks to IoT Hub (service side): direct methods, desired-property patches, twins,
 * and what the cloud received. `npm start` writes the control URL to `.takt/suite.json`.
 *
 *     node --conditions=takt-source --import tsx scripts/takt.ts <command> [options]
 *
 *     start-batch [--order ID] [--recipe ID|FILE|JSON] [--param k=v]… [--workflow batch]
 *     approve <instanceId> --user U --password P --reason R [--meaning M] [--task T]
 *     reject  <instanceId> --user U --password P --reason R [--meaning M] [--task T]
 *     instances [--status S] [--workflow W] · instance <id> [--history] · tasks [--instance ID]
 *     resolve <instanceId> --task T --outcome succeeded|retry|failed [--reason R]   (a device write in doubt)
 *     hold|restart|stop|abort|cancel <instanceId> [--reason R]
 *     audit [--instance ID] [--batch ID] [--action A] [--after-seq N] [--limit N] · verify
 *     upstream [--after N] · deploy <workflow.json> · estop [--reason R] · reset [--reason R] · status
 *
 * Options: --control URL (else TAKT_CONTROL_URL, else `<TAKT_DATA_DIR or .takt>/suite.json`),
 * --timeout S (direct-method response timeout, default 30).
 * Exit codes: 0 ok, 1 the call failed (the coded error is printed on stderr), 2 usage.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { EdgeHubControlClient } from '@takt/sim-edge-hub';
import { validateWorkflow } from '@takt/workflow';

/** The part of the control API the CLI uses (EdgeHubControlClient; a fake in tests). */
export interface ControlApi {
  invokeMethod(
    moduleId: string,
    request: { methodName: string; payload?: unknown; responseTimeoutInSeconds?: number },
  ): Promise<{ status: number; payload: unknown }>;
  patchDesired(moduleId: string, patch: Record<string, unknown>): Promise<number>;
  twin(moduleId: string): Promise<{ desired: Record<string, unknown>; reported: Record<string, unknown> }>;
  upstream(after?: number, limit?: number): Promise<unknown[]>;
  status(): Promise<unknown>;
}

export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
  env: Readonly<Record<string, string | undefined>>;
  /** Where relative paths (--recipe, deploy, TAKT_DATA_DIR) are taken from. */
  cwd: string;
  /** The repository root: `npm start` keeps its data in `<root>/.takt` by default. */
  root: string;
  control(url: string): ControlApi;
  /** Now, for generated order ids. */
  now(): Date;
}

/** Where each command goes: module and method (one place; follows modules/orchestrator and modules/audit). */
export const targets = {
  orchestrator: 'orchestrator',
  audit: 'audit',
  startWorkflow: 'startWorkflow',
  approve: 'approve',
  reject: 'reject',
  listInstances: 'listInstances',
  getInstance: 'getInstance',
  listTasks: 'listTasks',
  resolveInDoubt: 'resolveInDoubt',
  emergencyStop: 'emergencyStop',
  reset: 'reset',
  auditQuery: 'query',
  auditVerify: 'verifyChain',
  verbs: ['hold', 'restart', 'stop', 'abort', 'cancel'],
  actor: 'takt-cli',
} as const;

export const usage = `usage: takt <command> [options]
  start-batch [--order ID] [--recipe ID|FILE|JSON] [--param k=v]… [--workflow batch]
  approve|reject <instanceId> --user U --password P --reason R [--meaning M] [--task T]
  instances [--status S] [--workflow W]      instance <instanceId> [--history]
  tasks [--instance ID]                      hold|restart|stop|abort|cancel <instanceId> [--reason R]
  resolve <instanceId> --task T --outcome succeeded|retry|failed [--reason R]   (a device write in doubt)
  audit [--instance ID] [--batch ID] [--action A] [--after-seq N] [--limit N]
  verify      upstream [--after N]      deploy <workflow.json>      estop|reset [--reason R]      status
  user-add <name> --password P --roles r1,r2 [--admin-user admin] [--admin-password P] [--console URL]
options: --control URL (default: TAKT_CONTROL_URL or .takt/suite.json), --timeout SECONDS (default 30)`;

class UsageError extends Error {}

interface CallFailure {
  code: string;
  message: string;
  status?: number;
  details?: unknown;
}

class CallError extends Error {
  constructor(readonly failure: CallFailure) {
    super(failure.message);
  }
}

const options = {
  control: { type: 'string' },
  timeout: { type: 'string' },
  order: { type: 'string' },
  recipe: { type: 'string' },
  param: { type: 'string', multiple: true },
  workflow: { type: 'string' },
  user: { type: 'string' },
  password: { type: 'string' },
  meaning: { type: 'string' },
  reason: { type: 'string' },
  task: { type: 'string' },
  outcome: { type: 'string' },
  status: { type: 'string' },
  history: { type: 'boolean' },
  instance: { type: 'string' },
  batch: { type: 'string' },
  action: { type: 'string' },
  'after-seq': { type: 'string' },
  limit: { type: 'string' },
  after: { type: 'string' },
  roles: { type: 'string' },
  'admin-user': { type: 'string' },
  'admin-password': { type: 'string' },
  console: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>['values'];

function integer(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`--${name} takes a whole number, not "${value}"`);
  return Number(value);
}

function need(value: string | undefined, what: string): string {
  if (value === undefined || value.length === 0) throw new UsageError(`missing ${what}`);
  return value;
}

/** `k=v` → a JSON value when it parses (numbers, booleans), else the string. */
function parseParam(text: string): [string, unknown] {
  const at = text.indexOf('=');
  if (at <= 0) throw new UsageError(`--param takes key=value, not "${text}"`);
  const raw = text.slice(at + 1);
  let value: unknown = raw;
  try {
    value = JSON.parse(raw) as unknown;
  } catch {
    // a plain string
  }
  return [text.slice(0, at), value];
}

function readJsonArg(text: string, cwd: string, what: string): unknown {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    try {
      return JSON.parse(trimmed) as unknown;
    } catch (error) {
      throw new UsageError(`${what} is not valid JSON: ${(error as Error).message}`);
    }
  }
  const path = isAbsolute(text) ? text : resolve(cwd, text);
  let content: string;
  try {
    content = readFileSync(path, 'utf8');
  } catch {
    throw new UsageError(`${what}: cannot read ${path}`);
  }
  try {
    return JSON.parse(content) as unknown;
  } catch (error) {
    throw new UsageError(`${what}: ${path} is not valid JSON: ${(error as Error).message}`);
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** `--recipe`: an identifier names a twin recipe; a file or inline JSON gives parameters. */
function recipeOf(text: string | undefined, cwd: string): { recipe?: string; parameters: Record<string, unknown> } {
  if (text === undefined) return { parameters: {} };
  if (/^[A-Za-z_][A-Za-z0-9_-]{0,63}$/.test(text)) return { recipe: text, parameters: {} };
  const value = readJsonArg(text, cwd, '--recipe');
  if (!isObject(value)) throw new UsageError('--recipe JSON must be an object');
  const parameters = isObject(value['parameters']) ? value['parameters'] : value;
  return { parameters: { ...parameters } };
}

/** The control URL: --control, TAKT_CONTROL_URL, then the suite file `npm start` writes. */
/** The suite file `npm start` writes (`<TAKT_DATA_DIR or root/.takt>/suite.json`), or undefined. */
function suiteFileOf(io: Pick<CliIo, 'env' | 'cwd' | 'root'>): {
  dataDir: string;
  suite: Record<string, unknown> | undefined;
} {
  const configured = io.env['TAKT_DATA_DIR'] ?? join(io.root, '.takt');
  const dataDir = isAbsolute(configured) ? configured : resolve(io.cwd, configured);
  try {
    const suite = JSON.parse(readFileSync(join(dataDir, 'suite.json'), 'utf8')) as unknown;
    return { dataDir, suite: isObject(suite) ? suite : undefined };
  } catch {
    return { dataDir, suite: undefined };
  }
}

/**
 * Creates a console user through the orchestrator's HTTP API as an admin (login, then POST /api/users).
 * The admin password defaults to the one `npm start` keeps in `<data dir>/admin-password`.
 */
async function addUser(name: string, v: Values, io: Pick<CliIo, 'env' | 'cwd' | 'root'>): Promise<unknown> {
  const { dataDir, suite } = suiteFileOf(io);
  const consoleUrl = v.console ?? (typeof suite?.['consoleUrl'] === 'string' ? suite['consoleUrl'] : undefined);
  if (consoleUrl === undefined)
    throw new UsageError('no console URL: start the suite with `npm start` or pass --console');
  let adminPassword = v['admin-password'];
  if (adminPassword === undefined) {
    try {
      adminPassword = readFileSync(join(dataDir, 'admin-password'), 'utf8').trim();
    } catch {
      throw new UsageError('missing --admin-password (and no admin-password file from `npm start`)');
    }
  }
  const roles = need(v.roles, '--roles')
    .split(',')
    .map((r) => r.trim())
    .filter((r) => r.length > 0);
  const login = await fetch(`${consoleUrl}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user: v['admin-user'] ?? 'admin', password: adminPassword }),
  });
  const session = (await login.json()) as { token?: string; code?: string; message?: string };
  if (!login.ok || session.token === undefined) {
    throw new CallError({
      code: session.code ?? 'LOGIN_FAILED',
      message: session.message ?? 'admin login failed',
      status: login.status,
    });
  }
  const created = await fetch(`${consoleUrl}/api/users`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${session.token}` },
    body: JSON.stringify({ name, password: need(v.password, '--password'), roles }),
  });
  const body = (await created.json()) as Record<string, unknown>;
  if (!created.ok) {
    throw new CallError({
      code: typeof body['code'] === 'string' ? body['code'] : 'USER_CREATE_FAILED',
      message: typeof body['message'] === 'string' ? body['message'] : `creating ${name} failed`,
      status: created.status,
    });
  }
  return body;
}

export function controlUrlOf(flag: string | undefined, io: Pick<CliIo, 'env' | 'cwd' | 'root'>): string {
  if (flag !== undefined) return flag;
  const fromEnv = io.env['TAKT_CONTROL_URL'];
  if (fromEnv !== undefined && fromEnv.length > 0) return fromEnv;
  const dataDir = io.env['TAKT_DATA_DIR'] ?? join(io.root, '.takt');
  const file = join(isAbsolute(dataDir) ? dataDir : resolve(io.cwd, dataDir), 'suite.json');
  let suite: unknown;
  try {
    suite = JSON.parse(readFileSync(file, 'utf8')) as unknown;
  } catch {
    throw new UsageError(`no running suite found (${file} is missing): start it with \`npm start\` or pass --control`);
  }
  if (!isObject(suite) || typeof suite['controlUrl'] !== 'string') {
    throw new UsageError(`${file} has no controlUrl: restart the suite or pass --control`);
  }
  return suite['controlUrl'];
}

async function invoke(
  control: ControlApi,
  moduleId: string,
  methodName: string,
  payload: unknown,
  timeoutS: number,
): Promise<unknown> {
  let result: { status: number; payload: unknown };
  try {
    result = await control.invokeMethod(moduleId, { methodName, payload, responseTimeoutInSeconds: timeoutS });
  } catch (error) {
    throw new CallError(failureOf(error, `${moduleId}.${methodName}`));
  }
  if (result.status >= 200 && result.status < 300) return result.payload;
  const body = isObject(result.payload) ? result.payload : {};
  throw new CallError({
    code: typeof body['code'] === 'string' ? body['code'] : 'METHOD_FAILED',
    message:
      typeof body['message'] === 'string' ? body['message'] : `${moduleId}.${methodName} answered ${result.status}`,
    status: result.status,
    ...(body['details'] === undefined ? {} : { details: body['details'] }),
  });
}

function failureOf(error: unknown, what: string): CallFailure {
  if (isObject(error) && typeof error['code'] === 'string') {
    const details = error['details'];
    return {
      code: error['code'],
      message: `${what}: ${typeof error['message'] === 'string' ? error['message'] : 'failed'}`,
      ...(details === undefined ? {} : { details }),
    };
  }
  return {
    code: 'CONTROL_REQUEST_FAILED',
    message: `${what}: ${error instanceof Error ? error.message : String(error)}`,
  };
}

function orderId(now: Date): string {
  return `B-${now.toISOString().replace(/[-:T]/g, '').slice(0, 14)}`;
}

async function command(name: string, positionals: string[], v: Values, io: CliIo): Promise<unknown> {
  const timeoutS = integer(v.timeout, 'timeout') ?? 30;
  const control = (): ControlApi => io.control(controlUrlOf(v.control, io));
  const orch = (method: string, payload: unknown): Promise<unknown> =>
    invoke(control(), targets.orchestrator, method, payload, timeoutS);
  const instanceId = (): string => need(positionals[0], 'the instance id (see `takt instances`)');
  switch (name) {
    case 'start-batch': {
      const order = v.order ?? orderId(io.now());
      const { recipe, parameters } = recipeOf(v.recipe, io.cwd);
      for (const p of v.param ?? []) {
        const [key, value] = parseParam(p);
        parameters[key] = value;
      }
      return orch(targets.startWorkflow, {
        workflowId: v.workflow ?? 'batch',
        parameters: { batchId: order, ...parameters },
        ...(recipe === undefined ? {} : { recipe }),
        idempotencyKey: `order:${order}`,
        correlationId: order,
        actor: targets.actor,
      });
    }
    case 'approve':
    case 'reject':
      return orch(name === 'approve' ? targets.approve : targets.reject, {
        instanceId: instanceId(),
        user: need(v.user, '--user'),
        password: need(v.password ?? io.env['TAKT_PASSWORD'], '--password (or TAKT_PASSWORD)'),
        reason: need(v.reason, '--reason (the e-signature needs one)'),
        ...(v.meaning === undefined ? {} : { meaning: v.meaning }),
        ...(v.task === undefined ? {} : { taskId: v.task }),
      });
    case 'instances':
      return orch(targets.listInstances, {
        ...(v.status === undefined ? {} : { status: v.status }),
        ...(v.workflow === undefined ? {} : { workflowId: v.workflow }),
        ...(v.limit === undefined ? {} : { limit: integer(v.limit, 'limit') }),
      });
    case 'instance':
      return orch(targets.getInstance, { instanceId: instanceId(), history: v.history ?? false });
    case 'tasks':
      return orch(targets.listTasks, v.instance === undefined ? {} : { instanceId: v.instance });
    case 'resolve': {
      const outcome = need(v.outcome, '--outcome (succeeded, retry or failed)');
      if (!['succeeded', 'retry', 'failed'].includes(outcome)) {
        throw new UsageError(`--outcome: succeeded, retry or failed (got "${outcome}")`);
      }
      return orch(targets.resolveInDoubt, {
        instanceId: instanceId(),
        taskId: need(v.task, '--task (see `takt tasks`)'),
        outcome,
        ...(v.reason === undefined ? {} : { reason: v.reason }),
        actor: targets.actor,
      });
    }
    case 'hold':
    case 'restart':
    case 'stop':
    case 'abort':
    case 'cancel':
      return orch(name, {
        instanceId: instanceId(),
        ...(v.reason === undefined ? {} : { reason: v.reason }),
        actor: targets.actor,
      });
    case 'estop':
      return orch(targets.emergencyStop, {
        reason: v.reason ?? 'emergency stop from the command line',
        actor: targets.actor,
      });
    case 'reset':
      return orch(targets.reset, { ...(v.reason === undefined ? {} : { reason: v.reason }), actor: targets.actor });
    case 'audit':
      return invoke(
        control(),
        targets.audit,
        targets.auditQuery,
        {
          ...(v.instance === undefined ? {} : { instanceId: v.instance }),
          ...(v.batch === undefined ? {} : { batchId: v.batch }),
          ...(v.action === undefined ? {} : { action: v.action }),
          ...(v['after-seq'] === undefined ? {} : { afterSeq: integer(v['after-seq'], 'after-seq') }),
          ...(v.limit === undefined ? {} : { limit: integer(v.limit, 'limit') }),
        },
        timeoutS,
      );
    case 'verify':
      return invoke(control(), targets.audit, targets.auditVerify, {}, timeoutS);
    case 'upstream':
      try {
        return { messages: await control().upstream(integer(v.after, 'after') ?? 0) };
      } catch (error) {
        throw new CallError(failureOf(error, 'upstream'));
      }
    case 'deploy': {
      const definition = readJsonArg(need(positionals[0], 'the workflow file'), io.cwd, 'the workflow');
      const checked = validateWorkflow(definition);
      if (!checked.valid || !isObject(definition) || typeof definition['id'] !== 'string') {
        throw new CallError({
          code: 'WORKFLOW_INVALID',
          message: 'the workflow does not validate; nothing deployed',
          details: checked.problems,
        });
      }
      const id = definition['id'];
      try {
        const version = await control().patchDesired(targets.orchestrator, { workflows: { [id]: definition } });
        return { deployed: id, desiredVersion: version, twinBytes: checked.twin.bytes };
      } catch (error) {
        throw new CallError(failureOf(error, 'deploy'));
      }
    }
    case 'user-add':
      return addUser(need(positionals[0], 'the user name'), v, io);
    case 'status':
      try {
        return await control().status();
      } catch (error) {
        throw new CallError(failureOf(error, 'status'));
      }
    default:
      throw new UsageError(`unknown command "${name}"`);
  }
}

/** Runs one command; resolves with the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (error) {
    io.err(`${(error as Error).message}\n${usage}\n`);
    return 2;
  }
  const [name, ...rest] = parsed.positionals;
  if (parsed.values.help === true || name === undefined || name === 'help') {
    if (name === undefined && parsed.values.help !== true) {
      io.err(`${usage}\n`);
      return 2;
    }
    io.out(`${usage}\n`);
    return 0;
  }
  try {
    const result = await command(name, rest, parsed.values, io);
    io.out(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`${error.message}\n${usage}\n`);
      return 2;
    }
    if (error instanceof CallError) {
      io.err(`${JSON.stringify({ error: error.failure }, null, 2)}\n`);
      return 1;
    }
    io.err(`${JSON.stringify({ error: failureOf(error, name) }, null, 2)}\n`);
    return 1;
  }
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const io: CliIo = {
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
    env: process.env,
    cwd: process.cwd(),
    root: fileURLToPath(new URL('..', import.meta.url)),
    control: (url) => new EdgeHubControlClient(url, { timeoutMs: 320_000 }),
    now: () => new Date(),
  };
  void runCli(process.argv.slice(2), io).then((code) => {
    process.exitCode = code;
  });
}
