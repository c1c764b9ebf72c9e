import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Listener, httpListener } from '../endpoint.js';
import { HttpError, readJson, sendJson } from '../http-util.js';

export interface EventGridEmulatorOptions {
  host?: string;
  port?: number;
  tls: { cert: string; key: string };
  /** The topic access key clients send as `aeg-sas-key`. */
  key: string;
}

/** A received CloudEvent (flattened JSON, as on the wire). */
export type CloudEventJson = Record<string, unknown>;

export interface EventGridEmulator {
  /** Topic endpoint for `EventGridPublisherClient` (`…/api/events`). */
  readonly endpoint: string;
  readonly key: string;
  readonly listener: Listener;
  events(): CloudEventJson[];
  close(): Promise<void>;
}

/** An Event Grid topic emulator: the CloudEvents 1.0 batch endpoint with key authentication. */
export async function startEventGridEmulator(options: EventGridEmulatorOptions): Promise<EventGridEmulator> {
  const host = options.host ?? '127.0.0.1';
  const received: CloudEventJson[] = [];
  const handler = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    if (url.pathname !== '/api/events' || req.method !== 'POST') {
      throw new HttpError(404, 'NotFound', `${req.method ?? ''} ${url.pathname}`);
    }
    if (req.headers['aeg-sas-key'] !== options.key) {
      throw new HttpError(401, 'Unauthorized', 'aeg-sas-key is missing or wrong');
    }
    const type = req.headers['content-type'] ?? '';
    if (!type.startsWith('application/cloudevents-batch+json')) {
      throw new HttpError(400, 'BadRequest', `content-type must be application/cloudevents-batch+json, got ${type}`);
    }
    const body = await readJson(req);
    if (!Array.isArray(body)) throw new HttpError(400, 'BadRequest', 'expected an array of CloudEvents');
    for (const [i, event] of (body as unknown[]).entries()) {
      const e = event as CloudEventJson;
      for (const field of ['id', 'source', 'type', 'specversion']) {
        if (typeof e[field] !== 'string') throw new HttpError(400, 'BadRequest', `event ${i}: ${field} is required`);
      }
      if (e['specversion'] !== '1.0') throw new HttpError(400, 'BadRequest', `event ${i}: specversion must be 1.0`);
      if ('data' in e && e['data'] !== null && (typeof e['data'] !== 'object' || Array.isArray(e['data']))) {
        throw new HttpError(400, 'BadRequest', `event ${i}: events.data must be of type object.`);
      }
    }
    received.push(...(body as CloudEventJson[]));
    sendJson(res, 200, undefined);
  };
  const listener = httpListener('Event Grid emulator', host, options.port ?? 0, options.tls, handler);
  await listener.start();
  return {
    get endpoint() {
      return `https://${host}:${listener.port}/api/events`;
    },
    key: options.key,
    listener,
    events: () => [...received],
    close: () => listener.close(),
  };
}
