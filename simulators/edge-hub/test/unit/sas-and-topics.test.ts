import { describe, expect, it } from 'vitest';
import { createSas, formatPropertyBag, parsePropertyBag, parseSas, verifySas } from '@takt/sim-edge-hub';

const key = Buffer.alloc(32, 3).toString('base64');

describe('SAS tokens', () => {
  it('verifies what the SDK signs and refuses wrong keys and expired tokens', () => {
    const token = createSas('hub.azure-devices.net/devices/d/modules/m', key, 2_000_000_000);
    expect(parseSas(token)?.resource).toBe('hub.azure-devices.net/devices/d/modules/m');
    expect(verifySas(token, key, Date.now(), () => true)).toBeUndefined();
    expect(verifySas(token, Buffer.alloc(32, 4).toString('base64'), Date.now(), () => true)).toBe('bad-signature');
    expect(verifySas(createSas('r', key, 1000), key, Date.now(), () => true)).toBe('expired');
    expect(verifySas('Basic abc', key, Date.now(), () => true)).toBe('malformed');
    expect(verifySas(token, key, Date.now(), () => false)).toBe('wrong-resource');
  });
});

describe('topic property bags', () => {
  it('parses the SDK encoding (captured on the wire) and formats input topics', () => {
    const bag = parsePropertyBag(
      '%24.on=out1&%24.mid=mid-1&%24.cid=cid-1&%24.ct=application%2Fjson&%24.ce=utf-8&opcNodeId=ns%3D2%3Bs%3DTemp%2F1&x%20y=a%26b%3Dc',
    );
    expect(bag).toEqual({
      systemProperties: {
        outputName: 'out1',
        messageId: 'mid-1',
        correlationId: 'cid-1',
        contentType: 'application/json',
        contentEncoding: 'utf-8',
      },
      properties: { opcNodeId: 'ns=2;s=Temp/1', 'x y': 'a&b=c' },
    });
    expect(parsePropertyBag('%E0%A4%A=1')).toBeUndefined();
    const text = formatPropertyBag({
      body: Buffer.alloc(0),
      systemProperties: { messageId: 'm', connectionDeviceId: 'd', connectionModuleId: 'a', outputName: 'o' },
      properties: { k: 'v w' },
    });
    expect(text).toBe('%24.mid=m&%24.cdid=d&%24.cmid=a&k=v%20w');
  });
});
