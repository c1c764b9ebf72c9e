import { describe, expect, it } from 'vitest';
import { Lifecycle, createLogger, onceClose } from '../../src/index.js';

describe('Lifecycle', () => {
  it('starts in order, closes in reverse, and survives a hung close', async () => {
    const lines: string[] = [];
    const logger = createLogger({ write: (l) => lines.push(l) });
    const events: string[] = [];
    const lifecycle = new Lifecycle({ logger, closeTimeoutMs: 50 });
    for (const name of ['store', 'client', 'http']) {
      await lifecycle.add({
        name,
        start: () => void events.push(`start ${name}`),
        close: () =>
          name === 'client'
            ? new Promise<void>(() => events.push('close client (hangs)'))
            : void events.push(`close ${name}`),
      });
    }
    const report = await lifecycle.close();
    expect(events).toEqual([
      'start store',
      'start client',
      'start http',
      'close http',
      'close client (hangs)',
      'close store',
    ]);
    expect(report.failed).toEqual(['client']);
    expect(lines.some((l) => l.includes('"code":"CLOSE_TIMEOUT"'))).toBe(true);
    expect(lifecycle.signal.aborted).toBe(true);
    expect(await lifecycle.close()).toBe(report);
    await expect(lifecycle.add({ name: 'late', close: () => undefined })).rejects.toMatchObject({
      code: 'OPERATION_ABORTED',
    });
  });

  it('onceClose runs the close once', async () => {
    let n = 0;
    const close = onceClose(() => {
      n += 1;
    });
    await Promise.all([close(), close(), close()]);
    expect(n).toBe(1);
  });
});
