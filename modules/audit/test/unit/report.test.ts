import { describe, expect, it } from 'vitest';
import {
  type ChainedRecord,
  buildBatchReport,
  escapeHtml,
  pageText,
  renderBatchReportHtml,
  validateRecord,
} from '../../src/index.js';
import { sampleRecord } from '../fixtures/records.js';

function chained(seq: number, overrides: Parameters<typeof sampleRecord>[1]): ChainedRecord {
  const result = validateRecord(sampleRecord(seq, overrides));
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return {
    chain: 'c',
    seq,
    recordedAt: '2026-11-25T10:00:00.000Z',
    prevHash: '0',
    hash: String(seq),
    record: result.record,
  };
}

describe('text paging', () => {
  it('cuts pages on UTF-8 character boundaries and reassembles exactly', () => {
    const text = 'Müller ✓ 😀 '.repeat(500);
    const pages: string[] = [];
    let offset: number | null = 0;
    for (let i = 0; i < 10_000 && offset !== null; i += 1) {
      const page = pageText(text, offset, 1_025);
      expect(Buffer.byteLength(page.content)).toBeLessThanOrEqual(1_025);
      pages.push(page.content);
      offset = page.nextOffset;
    }
    expect(pages.join('')).toBe(text);
    expect(pages.every((p) => !p.includes('\uFFFD'))).toBe(true);
  });
});

describe('batch report', () => {
  it('summarizes what was made, signatures, deviations and alerts, and escapes everything', () => {
    const correlation = { batchId: 'B<1>', instanceId: 'i1' };
    const records = [
      chained(1, {
        action: 'batch.started',
        correlation,
        after: { product: '<script>x</script>', recipe: { id: 'r', version: 2, parameters: { tempC: 40 } } },
      }),
      chained(2, {
        action: 'step.approved',
        correlation,
        signature: { signer: 'u1', meaning: 'reviewed & approved', time: '2026-11-25T10:00:00Z' },
      }),
      chained(3, { action: 'deviation.recorded', correlation, reason: 'too hot' }),
      chained(4, { action: 'alert.raised', correlation }),
      chained(5, { action: 'batch.aborted', correlation }),
    ];
    const report = buildBatchReport('B<1>', 'c', records, {
      status: 'intact',
      from: 1,
      to: 5,
      checked: 5,
      macChecked: false,
    });
    expect(report).toMatchObject({
      product: '<script>x</script>',
      recipe: { id: 'r', version: 2, parameters: { tempC: 40 } },
      outcome: 'aborted',
      approvals: [{ seq: 2, signer: 'u1', meaning: 'reviewed & approved' }],
      firstSeq: 1,
      lastSeq: 5,
    });
    expect(report.deviations.map((r) => r.seq)).toEqual([3]);
    expect(report.alerts.map((r) => r.seq)).toEqual([4]);
    const html = renderBatchReportHtml(report);
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;x&lt;/script&gt;');
    expect(html).toContain('B&lt;1&gt;');
    expect(html).toContain('reviewed &amp; approved');
    expect(escapeHtml(`"'&<>`)).toBe('&quot;&#39;&amp;&lt;&gt;');
  });
});
