import { describe, expect, it } from 'vitest';
import { createLogger, parseLogLevel, redact, redactText } from '../../src/index.js';

const fixed = new Date(Date.UTC(2026, 10, 25, 10, 0, 0, 7));

function capture(level: Parameters<typeof createLogger>[0] = {}) {
  const lines: string[] = [];
  const logger = createLogger({ now: () => fixed, write: (line) => lines.push(line), ...level });
  return { logger, lines };
}

describe('logger', () => {
  it('writes the IoT Edge format with syslog severity and JSON fields', () => {
    const { logger, lines } = capture();
    logger.info('connected to edgeHub', { attempt: 2 });
    logger.warn('slow');
    logger.error('failed', { code: 'X' });
    expect(lines).toEqual([
      '<6> 2026-11-25 10:00:00.007 +00:00 connected to edgeHub {"attempt":2}',
      '<4> 2026-11-25 10:00:00.007 +00:00 slow',
      '<3> 2026-11-25 10:00:00.007 +00:00 failed {"code":"X"}',
    ]);
  });

  it('filters by level and keeps child bindings', () => {
    const { logger, lines } = capture({ level: 'warn', bindings: { module: 'orchestrator' } });
    const child = logger.child({ component: 'outbox' });
    child.info('hidden');
    child.debug('hidden');
    child.error('shown', { n: 1 });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^<3> .* shown \{"module":"orchestrator","component":"outbox","n":1\}$/);
    expect(child.isEnabled('warn')).toBe(true);
    expect(child.isEnabled('info')).toBe(false);
  });

  it('redacts secrets by key and by value pattern, also inside messages', () => {
    const { logger, lines } = capture();
    logger.info('using HostName=h;DeviceId=d;SharedAccessKey=c2VjcmV0 now', {
      password: 'hunter2',
      nested: { connectionString: 'anything', ok: 'visible', header: 'Bearer abc.def.ghi' },
      url: 'https://x/?sr=a&sig=SIGNATURE&se=1',
      sas: 'SharedAccessSignature sr=a&sig=b&se=1',
    });
    const line = lines[0] ?? '';
    for (const secret of ['c2VjcmV0', 'hunter2', 'anything', 'abc.def.ghi', 'SIGNATURE', 'sig=b']) {
      expect(line).not.toContain(secret);
    }
    expect(line).toContain('visible');
    expect(line).toContain('SharedAccessKey=[redacted]');
  });

  it('serializes errors with code and cause, and survives cycles', () => {
    const cause = new Error('socket closed');
    const error = Object.assign(new Error('send failed password=abc'), {
      code: 'NOT_CONNECTED',
      retryable: true,
      cause,
    });
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic['self'] = cyclic;
    expect(redact({ error, cyclic })).toEqual({
      error: {
        name: 'Error',
        message: 'send failed password=[redacted]',
        code: 'NOT_CONNECTED',
        retryable: true,
        cause: { name: 'Error', message: 'socket closed' },
      },
      cyclic: { a: 1, self: '[circular]' },
    });
  });

  it('keeps one line per record', () => {
    const { logger, lines } = capture();
    logger.info('line one\nline two');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('line one | line two');
  });

  it('parses IoT Edge RuntimeLogLevel spellings', () => {
    expect(parseLogLevel('Warning')).toBe('warn');
    expect(parseLogLevel('verbose')).toBe('trace');
    expect(parseLogLevel('information')).toBe('info');
    expect(parseLogLevel(undefined, 'debug')).toBe('debug');
    expect(parseLogLevel('nonsense')).toBe('info');
    expect(redactText('no secrets here')).toBe('no secrets here');
  });
});
