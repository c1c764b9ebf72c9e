import { describe, expect, it } from 'vitest';
import {
  PublishedNodesFileSchema,
  endpointSpecOf,
  monitoredNodesOf,
  nodesOnEndpoint,
  parseTimespanMs,
  publishNodes,
  unpublishAll,
  unpublishNodes,
} from '../../src/index.js';

const url = 'opc.tcp://plc1:4840';

describe('OPC Publisher published-nodes model', () => {
  it('parses an OPC Publisher 2.9 file, ignoring fields it does not implement', () => {
    const file = [
      {
        EndpointUrl: url,
        UseSecurity: true,
        DataSetWriterGroup: 'Line1',
        DataSetWriterId: 'Mixer1',
        MessagingMode: 'PubSub',
        OpcNodes: [
          { Id: 'nsu=http://x/;s=Temp', OpcSamplingInterval: 1000, OpcPublishingInterval: 5000, DisplayName: 'Temp' },
          {
            Id: 'nsu=http://x/;s=Speed',
            OpcSamplingIntervalTimespan: '00:00:00.250',
            HeartbeatInterval: 10,
            DeadbandType: 'Absolute',
            DeadbandValue: 0.5,
          },
        ],
      },
    ];
    const entries = PublishedNodesFileSchema.parse(file);
    const spec = endpointSpecOf(entries[0]!);
    expect(spec).toMatchObject({ endpointUrl: url, securityMode: 'SignAndEncrypt', auth: { mode: 'Anonymous' } });
    const nodes = monitoredNodesOf(entries[0]!);
    expect(nodes[0]).toMatchObject({
      fieldName: 'Temp',
      samplingIntervalMs: 1000,
      publishingIntervalMs: 5000,
      queueSize: 1,
    });
    expect(nodes[1]).toMatchObject({
      fieldName: 'nsu=http://x/;s=Speed',
      samplingIntervalMs: 250,
      publishingIntervalMs: 1000,
      heartbeatIntervalMs: 10_000,
      deadband: { type: 'Absolute', value: 0.5 },
    });
  });

  it('defaults to the best security the server offers; UseSecurity false means None', () => {
    expect(endpointSpecOf({ EndpointUrl: url }).securityMode).toBe('Best');
    expect(endpointSpecOf({ EndpointUrl: url, UseSecurity: false }).securityMode).toBe('None');
    expect(
      endpointSpecOf({
        EndpointUrl: url,
        OpcAuthenticationMode: 'UsernamePassword',
        OpcAuthenticationUsername: 'op',
        OpcAuthenticationPasswordSecret: 'PLC1',
      }).auth,
    ).toEqual({ mode: 'UsernamePassword', username: 'op', passwordSecret: 'PLC1' });
  });

  it('rejects malformed entries with paths', () => {
    const result = PublishedNodesFileSchema.safeParse([{ EndpointUrl: 'http://x', OpcNodes: [{ Id: '' }] }]);
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.path.join('.'))).toEqual(['0.EndpointUrl', '0.OpcNodes.0.Id']);
  });

  it('PublishNodes adds and replaces nodes per writer; Unpublish removes; UnpublishAll purges', () => {
    let entries = publishNodes([], {
      EndpointUrl: url,
      DataSetWriterId: 'A',
      OpcNodes: [{ Id: 'i=1' }, { Id: 'i=2' }],
    });
    entries = publishNodes(entries, {
      EndpointUrl: url,
      DataSetWriterId: 'A',
      OpcNodes: [{ Id: 'i=2', OpcSamplingInterval: 10 }],
    });
    entries = publishNodes(entries, { EndpointUrl: url, DataSetWriterId: 'B', OpcNodes: [{ Id: 'i=3' }] });
    expect(nodesOnEndpoint(entries, { EndpointUrl: url, DataSetWriterId: 'A' })).toEqual([
      { Id: 'i=1' },
      { Id: 'i=2', OpcSamplingInterval: 10 },
    ]);
    const removed = unpublishNodes(entries, {
      EndpointUrl: url,
      DataSetWriterId: 'A',
      OpcNodes: [{ Id: 'i=1' }, { Id: 'i=9' }],
    });
    expect(removed.missing).toEqual(['i=9']);
    expect(nodesOnEndpoint(removed.entries, { EndpointUrl: url })).toEqual([
      { Id: 'i=2', OpcSamplingInterval: 10 },
      { Id: 'i=3' },
    ]);
    expect(unpublishAll(removed.entries, { EndpointUrl: url, DataSetWriterId: 'B' })).toHaveLength(1);
    expect(unpublishAll(removed.entries, {})).toEqual([]);
  });

  it('parses timespans', () => {
    expect(parseTimespanMs('00:00:01')).toBe(1000);
    expect(parseTimespanMs('1.00:00:00.5')).toBe(86_400_500);
    expect(parseTimespanMs('soon')).toBeUndefined();
  });
});
