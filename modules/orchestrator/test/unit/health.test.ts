import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '@takt/edge-kit';
import { type TempDir, createTempDir } from '@takt/test-support';
import { Orchestrator, twinKey } from '../../src/app/orchestrator.js';

const logger = createLogger({ level: 'fatal' });
let dir: TempDir | undefined;
let orchestrator: Orchestrator | undefined;
afterEach(async () => {
  await orchestrator?.close();
  orchestrator = undefined;
  await dir?.remove();
});

/** Every property name in `value` (nested), as the twin would see them. */
function keysOf(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const item of value) keysOf(item, out);
  else if (value !== null && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      out.push(key);
      keysOf(inner, out);
    }
  }
  return out;
}

describe('the reported engine health', () => {
  it('has no property name the twin refuses (".", "$", "#", whitespace)', async () => {
    dir = await createTempDir('takt-orch-health-');
    orchestrator = new Orchestrator({
      dataDir: dir.path,
      logger,
      adminPassword: 'admin-secret-1',
      invokeModule: () => Promise.resolve({ status: 200, payload: { values: [{ value: 1 }] } }),
    });
    await orchestrator.start();
    // a circuit breaker per endpoint URL (dots and a colon in its name)
    await orchestrator.connector.read({ endpointUrl: 'opc.tcp://127.0.0.1:4840', nodeId: 'ns=1;s=Reactor.Level' });
    const health = orchestrator.health();
    expect(JSON.stringify(health)).toContain('opc.tcp://127.0.0.1:4840');
    const keys = keysOf({ engine: health });
    expect(keys.length).toBeGreaterThan(3);
    expect(keys.filter((k) => /[.$#\s]/.test(k))).toEqual([]);
  });

  it('encodes names for the twin', () => {
    expect(twinKey('batch.v2 $x#1')).toBe('batch_v2__x_1');
    expect(twinKey('plain-name')).toBe('plain-name');
  });
});
