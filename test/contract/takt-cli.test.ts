/** scripts/takt.ts against a fake control API: payloads, the suite file, exit codes. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { type CliIo, type ControlApi, runCli } from '../../scripts/takt.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

interface Call {
  url: string;
  kind: string;
  moduleId?: string;
  body: unknown;
}

function harness(
  answer: (methodName: string) => { status: number; payload: unknown } = () => ({ status: 200, payload: { ok: true } }),
) {
  const calls: Call[] = [];
  let out = '';
  let err = '';
  const dirs: string[] = [];
  const io: CliIo = {
    out: (t) => void (out += t),
    err: (t) => void (err += t),
    env: {},
    cwd: root,
    root,
    now: () => new Date('2026-11-25T10:20:30Z'),
    control: (url): ControlApi => ({
      invokeMethod: (moduleId, request) => {
        calls.push({ url, kind: 'method', moduleId, body: request });
        return Promise.resolve(answer(request.methodName));
      },
      patchDesired: (moduleId, patch) => {
        calls.push({ url, kind: 'patch', moduleId, body: patch });
        return Promise.resolve(7);
      },
      twin: () => Promise.resolve({ desired: {}, reported: {} }),
      upstream: (after) => {
        calls.push({ url, kind: 'upstream', body: { after } });
        return Promise.resolve([{ seq: 1 }]);
      },
      status: () => Promise.resolve({ online: true }),
    }),
  };
  return {
    io,
    calls,
    out: () => out,
    err: () => err,
    tempDir: () => {
      const dir = mkdtempSync(join(tmpdir(), 'takt-cli-'));
      dirs.push(dir);
      return dir;
    },
    cleanup: () => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })),
  };
}

let current: ReturnType<typeof harness> | undefined;
const make = (...args: Parameters<typeof harness>): ReturnType<typeof harness> => (current = harness(...args));
afterEach(() => current?.cleanup());

const C = ['--control', 'http://127.0.0.1:1'];

describe('scripts/takt.ts', () => {
  it('starts a batch through the orchestrator with the order id, a recipe id and parameters', async () => {
    const h = make(() => ({ status: 200, payload: { instanceId: 'i-1', created: true } }));
    const code = await runCli(
      ['start-batch', '--order', 'B-7', '--recipe', 'small', '--param', 'unitsToFill=4', ...C],
      h.io,
    );
    expect(code).toBe(0);
    expect(h.calls).toEqual([
      {
        url: 'http://127.0.0.1:1',
        kind: 'method',
        moduleId: 'orchestrator',
        body: {
          methodName: 'startWorkflow',
          payload: {
            workflowId: 'batch',
            parameters: { batchId: 'B-7', unitsToFill: 4 },
            recipe: 'small',
            idempotencyKey: 'order:B-7',
            correlationId: 'B-7',
            actor: 'takt-cli',
          },
          responseTimeoutInSeconds: 30,
        },
      },
    ]);
    expect(JSON.parse(h.out())).toEqual({ instanceId: 'i-1', created: true });
  });

  it('takes recipe parameters from a file and generates an order id', async () => {
    const h = make();
    const dir = h.tempDir();
    writeFileSync(join(dir, 'r.json'), JSON.stringify({ parameters: { temperatureC: 70 } }));
    expect(await runCli(['start-batch', '--recipe', join(dir, 'r.json'), ...C], h.io)).toBe(0);
    const payload = (h.calls[0]?.body as { payload: { parameters: unknown } }).payload;
    expect(payload.parameters).toEqual({ batchId: 'B-20261125102030', temperatureC: 70 });
  });

  it('approves with the e-signature fields and refuses an approval without a reason', async () => {
    const h = make();
    const args = ['approve', 'i-1', '--user', 'sue', '--password', 'pw', '--meaning', 'Released', ...C];
    expect(await runCli([...args, '--reason', 'sample ok'], h.io)).toBe(0);
    expect((h.calls[0]?.body as { payload: unknown }).payload).toEqual({
      instanceId: 'i-1',
      user: 'sue',
      password: 'pw',
      reason: 'sample ok',
      meaning: 'Released',
    });
    expect(await runCli(args, h.io)).toBe(2);
    expect(h.err()).toContain('missing --reason');
  });

  it('settles a device write in doubt, and refuses an outcome it does not know', async () => {
    const h = make();
    const args = ['resolve', 'i-1', '--task', 'i-1:t0:startReactor:1:inDoubt', ...C];
    expect(await runCli([...args, '--outcome', 'retry', '--reason', 'reactor still Idle'], h.io)).toBe(0);
    expect(h.calls[0]).toMatchObject({ moduleId: 'orchestrator', body: { methodName: 'resolveInDoubt' } });
    expect((h.calls[0]?.body as { payload: unknown }).payload).toEqual({
      instanceId: 'i-1',
      taskId: 'i-1:t0:startReactor:1:inDoubt',
      outcome: 'retry',
      reason: 'reactor still Idle',
      actor: 'takt-cli',
    });
    expect(await runCli([...args, '--outcome', 'maybe'], h.io)).toBe(2);
    expect(h.err()).toContain('succeeded, retry or failed');
    expect(h.calls).toHaveLength(1);
  });

  it('prints the coded error and exits 1 when the method fails', async () => {
    const h = make(() => ({ status: 400, payload: { code: 'ORCH_AUTH_FAILED', message: 'wrong password' } }));
    const code = await runCli(['reject', 'i-1', '--user', 'u', '--password', 'p', '--reason', 'r', ...C], h.io);
    expect(code).toBe(1);
    expect(JSON.parse(h.err())).toEqual({
      error: { code: 'ORCH_AUTH_FAILED', message: 'wrong password', status: 400 },
    });
  });

  it('queries audit and verifies the chain on the audit module', async () => {
    const h = make();
    expect(await runCli(['audit', '--instance', 'i-1', '--limit', '5', ...C], h.io)).toBe(0);
    expect(await runCli(['verify', ...C], h.io)).toBe(0);
    expect(
      h.calls.map((c) => [
        c.moduleId,
        (c.body as { methodName: string }).methodName,
        (c.body as { payload: unknown }).payload,
      ]),
    ).toEqual([
      ['audit', 'query', { instanceId: 'i-1', limit: 5 }],
      ['audit', 'verifyChain', {}],
    ]);
  });

  it('deploys a valid workflow as a twin patch and refuses an invalid one', async () => {
    const h = make();
    expect(await runCli(['deploy', 'deployment/workflows/batch.json', ...C], h.io)).toBe(0);
    expect(h.calls[0]?.kind).toBe('patch');
    expect(Object.keys((h.calls[0]?.body as { workflows: object }).workflows)).toEqual(['batch']);
    const dir = h.tempDir();
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ id: 'x', version: '1', start: 'nope', steps: {} }));
    expect(await runCli(['deploy', join(dir, 'bad.json'), ...C], h.io)).toBe(1);
    expect(h.calls).toHaveLength(1);
    expect(h.err()).toContain('WORKFLOW_INVALID');
  });

  it('finds the control URL in the suite file and says how to start the suite without one', async () => {
    const h = make();
    const dir = h.tempDir();
    writeFileSync(join(dir, 'suite.json'), JSON.stringify({ controlUrl: 'http://127.0.0.1:4242' }));
    h.io.env = { TAKT_DATA_DIR: dir };
    expect(await runCli(['upstream', '--after', '3'], h.io)).toBe(0);
    expect(h.calls[0]).toEqual({ url: 'http://127.0.0.1:4242', kind: 'upstream', body: { after: 3 } });
    h.io.env = { TAKT_DATA_DIR: join(dir, 'missing') };
    expect(await runCli(['instances'], h.io)).toBe(2);
    expect(h.err()).toContain('npm start');
  });

  it('exits 2 on usage errors', async () => {
    const h = make();
    expect(await runCli([], h.io)).toBe(2);
    expect(await runCli(['frobnicate', ...C], h.io)).toBe(2);
    expect(await runCli(['instance', ...C], h.io)).toBe(2);
    expect(await runCli(['instances', '--bogus'], h.io)).toBe(2);
    expect(await runCli(['--help'], h.io)).toBe(0);
    expect(h.calls).toEqual([]);
  });
});

describe('scripts/takt.ts user-add', () => {
  it('logs in as admin and creates the user through the console API', async () => {
    const { createServer } = await import('node:http');
    const seen: { url: string | undefined; auth: string | undefined; body: unknown }[] = [];
    const server = createServer((req, res) => {
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString()));
      req.on('end', () => {
        seen.push({ url: req.url, auth: req.headers.authorization, body: JSON.parse(text) as unknown });
        res.setHeader('content-type', 'application/json');
        if (req.url === '/api/login') res.end(JSON.stringify({ token: 't-1' }));
        else res.writeHead(201).end(JSON.stringify({ name: 'sue', roles: ['supervisor'] }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    try {
      const h = make();
      const code = await runCli(
        [
          'user-add',
          'sue',
          '--password',
          'pw-12345678',
          '--roles',
          'supervisor, operator',
          '--admin-password',
          'a-pw',
          '--console',
          `http://127.0.0.1:${port}`,
        ],
        h.io,
      );
      expect(code, h.err()).toBe(0);
      expect(seen).toEqual([
        { url: '/api/login', auth: undefined, body: { user: 'admin', password: 'a-pw' } },
        {
          url: '/api/users',
          auth: 'Bearer t-1',
          body: { name: 'sue', password: 'pw-12345678', roles: ['supervisor', 'operator'] },
        },
      ]);
      expect(
        await runCli(
          [
            'user-add',
            'bob',
            '--password',
            'x',
            '--roles',
            'qa',
            '--console',
            'http://127.0.0.1:1',
            '--admin-password',
            'a',
          ],
          make().io,
        ),
      ).toBe(1);
    } finally {
      server.close();
    }
  });
});
