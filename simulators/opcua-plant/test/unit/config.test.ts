import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config.js';

describe('resolveConfig', () => {
  it('defaults to loopback, port 4840, speed 1, every security mode and a data folder under the working directory', () => {
    const config = resolveConfig([], {}, '/srv/takt');
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 4840,
      speedFactor: 1,
      tickMs: 100,
      minPublishingIntervalMs: 10,
      dataDir: '/srv/takt/.takt/opcua-plant',
      pkiDir: '/srv/takt/.takt/opcua-plant/pki',
      securityModes: ['None', 'Sign', 'SignAndEncrypt'],
      allowAnonymous: true,
      users: [],
      diagPort: undefined,
      logLevel: 'info',
    });
    expect(config.layoutFile).toMatch(/layouts\/batch-plant\.json$/);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('takes arguments over environment variables, and users only from the environment', () => {
    const config = resolveConfig(
      ['--port', '0', '--speed=250', '--security', 'SignAndEncrypt', '--diag-port', '0', '--min-publishing-ms', '25'],
      {
        PLANT_PORT: '5000',
        PLANT_SPEED: '2',
        PLANT_PKI_DIR: 'certs',
        PLANT_USERS: 'operator:pa:ss,engineer:x',
        PLANT_ALLOW_ANONYMOUS: 'false',
        RuntimeLogLevel: 'warning',
      },
      '/srv',
    );
    expect(config).toMatchObject({
      port: 0,
      speedFactor: 250,
      minPublishingIntervalMs: 25,
      securityModes: ['SignAndEncrypt'],
      pkiDir: '/srv/certs',
      diagPort: 0,
      allowAnonymous: false,
      logLevel: 'warn',
      users: [
        { username: 'operator', password: 'pa:ss' },
        { username: 'engineer', password: 'x' },
      ],
    });
  });

  it('lists every problem under PLANT_CONFIG_INVALID', () => {
    try {
      resolveConfig(['--port', '70000', '--speed', '0', '--security', 'Encrypt', '--bogus'], {
        PLANT_ALLOW_ANONYMOUS: 'false',
      });
    } catch (error) {
      const coded = error as { code?: string; details?: { problems?: string[] } };
      expect(coded.code).toBe('PLANT_CONFIG_INVALID');
      expect(coded.details?.problems?.[0]).toContain('--bogus'); // strict parsing stops at the unknown option
      return;
    }
    throw new Error('expected PLANT_CONFIG_INVALID');
  });

  it('reports bad values with their option names', () => {
    let problems: string[] = [];
    try {
      resolveConfig(['--port', '70000', '--speed', '0', '--security', 'Encrypt'], { PLANT_ALLOW_ANONYMOUS: 'false' });
    } catch (error) {
      problems = (error as { details?: { problems?: string[] } }).details?.problems ?? [];
    }
    expect(problems).toEqual([
      expect.stringContaining('--port'),
      expect.stringContaining('--speed'),
      expect.stringContaining('Encrypt'),
      expect.stringContaining('at least one mode'),
      expect.stringContaining('PLANT_USERS'),
    ]);
  });
});
