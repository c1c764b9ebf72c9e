import dns from 'node:dns';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createTempDir, loadEgressGuard, spawnChild, workerEgressGuard } from '../../src/index.js';

// A private-range address used only as a string handed to the guard: the guard refuses it before a
// socket is created, so nothing is ever sent towards it.
const PRIVATE_ADDRESS = '10.255.255.1';
const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));

describe('egress guard', () => {
  const guard = loadEgressGuard();

  it('allows loopback and unix sockets', () => {
    for (const host of ['127.0.0.1', '127.0.0.2', '127.255.255.254', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) {
      expect(guard.isLoopbackHost(host), host).toBe(true);
    }
    for (const host of ['10.255.255.1', '192.168.1.1', '169.254.169.254', '8.8.8.8', 'example.com', '::2', 'fe80::1']) {
      expect(guard.isLoopbackHost(host), host).toBe(false);
    }
  });

  it('refuses a TCP connection to a private address synchronously, before any socket is opened', () => {
    const before = guard.takeViolations();
    expect(before).toEqual([]);
    let thrown: unknown;
    try {
      net.connect({ host: PRIVATE_ADDRESS, port: 9 });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ code: 'EGRESS_BLOCKED', address: `${PRIVATE_ADDRESS}:9` });
    const recorded = guard.takeViolations(); // taken here so that this test itself passes
    expect(recorded.map((v) => v.target)).toEqual([`${PRIVATE_ADDRESS}:9`]);
  });

  it('refuses DNS lookups of anything but localhost', async () => {
    expect(() => dns.lookup('example.invalid', () => undefined)).toThrow(/EGRESS_BLOCKED/);
    await expect(Promise.resolve().then(() => dns.promises.resolve4('example.invalid'))).rejects.toMatchObject({
      code: 'EGRESS_BLOCKED',
    });
    expect(guard.takeViolations()).toHaveLength(2);
    const { address } = await dns.promises.lookup('localhost');
    expect(['127.0.0.1', '::1']).toContain(address);
    // IP literals resolve without a packet: servers bind 0.0.0.0 this way
    expect((await dns.promises.lookup('0.0.0.0')).address).toBe('0.0.0.0');
    expect(guard.takeViolations()).toEqual([]);
  });

  it('lets a server listen on every interface', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
    server.close();
    expect(guard.takeViolations()).toEqual([]);
  });

  it('still lets loopback connections through', async () => {
    const server = net.createServer((socket) => socket.end('hi'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      let data = '';
      socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    server.close();
    expect(reply).toBe('hi');
  });

  it('is preloaded into child processes, which report to the parent test', async () => {
    const child = spawnChild(process.execPath, ['-e', `require('node:net').connect(9, '${PRIVATE_ADDRESS}')`]);
    const code = await child.waitForExit();
    expect(code).not.toBe(0);
    expect(child.output()).toContain(`EGRESS_BLOCKED: connection to ${PRIVATE_ADDRESS}:9`);
    // The child's attempt reached this worker's log; take it so this test passes. The next test proves
    // that an attempt nobody takes fails the test.
    const taken = workerEgressGuard()?.take() ?? [];
    expect(taken.map((v) => [v.target, v.pid])).toEqual([[`${PRIVATE_ADDRESS}:9`, child.pid]]);
  });

  it('fails the test that tried, naming the address (a nested Vitest run)', async () => {
    const dir = await createTempDir();
    try {
      const child = spawnChild(
        process.execPath,
        [
          fileURLToPath(new URL('../../../../node_modules/vitest/vitest.mjs', import.meta.url)),
          'run',
          '--config',
          'test/support/test/fixtures/vitest.fixture.config.ts',
          '--reporter',
          'verbose',
        ],
        { cwd: repoRoot, env: { TAKT_EGRESS_LOG: undefined } },
      );
      const code = await child.waitForExit(60_000);
      const output = child.output();
      expect(code, output).toBe(1);
      expect(output).toContain(`connection to ${PRIVATE_ADDRESS}:443`);
      expect(output).toMatch(/1 failed/);
      expect(output).toMatch(/1 passed/);
    } finally {
      await dir.remove();
    }
  });
});
