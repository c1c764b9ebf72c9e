import { describe, expect, it } from 'vitest';
import { type EdgeMessage, compileRoute, isCodedErrorLike, routeMessage } from './support.js';

const message = (output: string, app: Record<string, string> = {}, body: unknown = {}): EdgeMessage => ({
  body: Buffer.from(JSON.stringify(body)),
  systemProperties: { outputName: output, contentType: 'application/json', contentEncoding: 'utf-8' },
  properties: app,
});

describe('routes', () => {
  it('parses string and object routes with priority and TTL', () => {
    const r = compileRoute('r1', {
      route: 'FROM /messages/modules/a/outputs/out1 WHERE x = \'1\' INTO BrokeredEndpoint("/modules/b/inputs/in1")',
      priority: 3,
      timeToLiveSecs: 60,
    });
    expect(r).toMatchObject({
      endpoint: { kind: 'module', moduleId: 'b', input: 'in1' },
      priority: 3,
      timeToLiveSecs: 60,
    });
    expect(compileRoute('r2', 'FROM /messages/* INTO $upstream')).toMatchObject({
      endpoint: { kind: 'upstream' },
      priority: 2000000000,
    });
  });

  it('refuses malformed routes with ROUTE_INVALID', () => {
    for (const bad of [
      'FROM INTO $upstream',
      'FROM /messages/* INTO nowhere',
      'FROM /foo INTO $upstream',
      'SELECT *',
    ]) {
      let error: unknown;
      try {
        compileRoute('bad', bad);
      } catch (e) {
        error = e;
      }
      expect(isCodedErrorLike(error, 'ROUTE_INVALID'), bad).toBe(true);
    }
    expect(() => compileRoute('p', { route: 'FROM /messages/* INTO $upstream', priority: 10 })).toThrow();
  });

  it('matches sources and merges targets per endpoint (highest priority, longest TTL)', () => {
    const routes = [
      compileRoute('a', 'FROM /messages/modules/a/outputs/* INTO $upstream'),
      compileRoute('b', {
        route: 'FROM /messages/modules/a/outputs/o1 INTO $upstream',
        priority: 1,
        timeToLiveSecs: 10,
      }),
      compileRoute('c', 'FROM /messages/modules/b/* INTO BrokeredEndpoint("/modules/c/inputs/i")'),
    ];
    expect(routeMessage(routes, message('o1'), 'a', 'o1', 7200)).toEqual([
      { endpoint: { kind: 'upstream' }, key: '$upstream', priority: 1, timeToLiveSecs: 7200 },
    ]);
    expect(routeMessage(routes, message('o2'), 'a', 'o2', 7200)).toHaveLength(1);
    expect(routeMessage(routes, message('x'), 'b', undefined, 7200)[0]?.key).toBe('/modules/c/inputs/i');
    expect(routeMessage(routes, message('x'), 'z', 'x', 7200)).toEqual([]);
  });
});
