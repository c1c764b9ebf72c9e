import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson, definitionHash, resolveReference } from '../../src/index.js';
import { threeStep } from '../fixtures/workflows.js';

describe('definitions', () => {
  it('hashes the canonical JSON: key order does not matter, content does', () => {
    const reordered = JSON.parse(canonicalJson(threeStep as never)) as typeof threeStep;
    expect(definitionHash(reordered)).toBe(definitionHash(threeStep));
    expect(definitionHash({ ...threeStep, version: '2' })).not.toBe(definitionHash(threeStep));
  });

  it('resolves a definition by reference after verifying its sha256', async () => {
    const bytes = new TextEncoder().encode(JSON.stringify(threeStep));
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const reference = { id: 'three-step', version: '1', uri: 'file:///defs/three-step.json', sha256 };
    const fetchBytes = (uri: string): Promise<Uint8Array> => {
      expect(uri).toBe(reference.uri);
      return Promise.resolve(bytes);
    };
    expect(await resolveReference(reference, fetchBytes)).toEqual(threeStep);
    await expect(resolveReference({ ...reference, sha256: '0'.repeat(64) }, fetchBytes)).rejects.toMatchObject({
      code: 'WF_DEFINITION_INVALID',
    });
    await expect(resolveReference({ ...reference, version: '9' }, fetchBytes)).rejects.toMatchObject({
      code: 'WF_DEFINITION_INVALID',
    });
  });
});
