/**
 * Prometheus gauges for the connector (served on 9600 with the process metrics), read from the same
 * health snapshot that goes to the reported properties.
 */
import { Gauge, type Registry } from '@takt/edge-kit';
import type { OpcuaConnector } from '../connector.js';

interface HealthEntry {
  endpointUrl: string;
  connected: boolean;
  monitoredItems: number;
  monitoredItemsFailed: number;
  valuesReceived: number;
  valuesSent: number;
  valuesDropped: number;
  connectionRetries: number;
  gaps: number;
}

const FIELDS: readonly [keyof HealthEntry, string, string][] = [
  ['connected', 'takt_opcua_endpoint_connected', '1 when the endpoint has a working session'],
  ['monitoredItems', 'takt_opcua_monitored_items', 'monitored items accepted by the server'],
  ['monitoredItemsFailed', 'takt_opcua_monitored_items_failed', 'monitored items the server refused'],
  ['valuesReceived', 'takt_opcua_values_received', 'published value changes received since start'],
  ['valuesSent', 'takt_opcua_values_sent', 'published value changes queued for edgeHub since start'],
  ['valuesDropped', 'takt_opcua_values_dropped', 'published value changes dropped since start'],
  ['connectionRetries', 'takt_opcua_connection_retries', 'failed connection attempts since start'],
  ['gaps', 'takt_opcua_gaps', 'publishing gaps (outages after a first connection) since start'],
];

export function registerConnectorMetrics(registry: Registry, connector: OpcuaConnector): void {
  for (const [field, name, help] of FIELDS) {
    new Gauge({
      name,
      help,
      labelNames: ['endpoint'],
      registers: [registry],
      collect() {
        this.reset();
        for (const entry of Object.values(connector.health()) as HealthEntry[]) {
          const value = entry[field];
          this.set({ endpoint: entry.endpointUrl }, typeof value === 'boolean' ? Number(value) : Number(value));
        }
      },
    });
  }
}
