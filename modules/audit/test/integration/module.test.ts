import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '@takt/test-support';
import { AuditModule, AuditStore, type ChainedRecord, type VerifyReport } from '../../src/index.js';
import { TEST_MAC_KEY, sampleRecord } from '../fixtures/records.js';
import { type Harness, logger, startHarness } from './harness.js';

const FILE = 1;
let counter = 0;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(): Promise<{ h: Harness; audit: AuditModule; store: AuditStore }> {
  counter += 1;
  const h = await startHarness(FILE, counter);
  cleanups.push(() => h.close());
  const store = AuditStore.open(h.dir.join('audit.db'), { macKey: Buffer.from(TEST_MAC_KEY) });
  cleanups.push(() => store.close());
  const audit = new AuditModule({
    store,
    logger,
    onStoreFailure: (error) => {
      throw error;
    },
    client: h.clientOptions('audit'),
  });
  cleanups.push(() => audit.close());
  await audit.start();
  return { h, audit, store };
}

async function call(h: Harness, methodName: string, payload: unknown): Promise<{ status: number; payload: unknown }> {
  return h.hub.control.invokeMethod('audit', { methodName, payload, responseTimeoutInSeconds: 20 });
}

async function upstreamRecords(h: Harness): Promise<ChainedRecord[]> {
  const messages = await h.hub.control.upstream(0, 5_000);
  return messages
    .filter((m) => m.moduleId === 'audit' && m.outputName === 'forward')
    .map((m) => JSON.parse(m.body) as ChainedRecord);
}

function expectContiguousChain(records: readonly ChainedRecord[], count: number): void {
  expect(records.map((r) => r.seq)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
  records.forEach((r, i) => {
    if (i > 0) expect(r.prevHash).toBe(records[i - 1]?.hash);
  });
}

describe('audit module against the edgeHub emulator', () => {
  it('chains records from the records input and the record method, parks bad ones, forwards in order', async () => {
    const { h, store } = await setup();
    const orchestrator = await h.orchestrator();
    // 20 single records, one message with a batch of 5, a resend of record 3 under a new message id, one bad record
    for (let n = 1; n <= 20; n += 1) orchestrator.outbox.append({ channel: 'audit', body: sampleRecord(n) });
    orchestrator.outbox.append({
      channel: 'audit',
      body: { records: [21, 22, 23, 24, 25].map((n) => sampleRecord(n)) },
    });
    orchestrator.outbox.append({ channel: 'audit', body: sampleRecord(3) });
    orchestrator.outbox.append({ channel: 'audit', body: { ...sampleRecord(99), actor: 'nobody' } });
    orchestrator.outbox.append({ channel: 'audit', body: Buffer.from('not json at all') });
    await waitFor(() => store.head.seq >= 27, { description: '25 records + 2 parked-record entries' });

    const ok = await call(h, 'record', sampleRecord(30, { sourceModule: 'opcua-connector' }));
    expect(ok.status).toBe(200);
    expect(ok.payload).toMatchObject({ seq: 28, duplicate: false });
    const dup = await call(h, 'record', sampleRecord(30, { sourceModule: 'opcua-connector' }));
    expect(dup.payload).toMatchObject({ seq: 28, duplicate: true });
    const bad = await call(h, 'record', { ...sampleRecord(31), timestamp: 'now' });
    expect(bad.status).toBe(400);
    expect(bad.payload).toMatchObject({ code: 'AUDIT_RECORD_INVALID', details: { problems: [{ path: 'timestamp' }] } });

    expect(store.parked()).toHaveLength(2);
    expect(store.parked()[1]).toMatchObject({ code: 'AUDIT_RECORD_INVALID', origin: 'input:records:orchestrator' });
    const parkedEntry = store.query({ action: 'audit.record.parked' }).records;
    expect(parkedEntry).toHaveLength(2);
    expect(parkedEntry[0]?.record.details?.['problems']).toContain('actor');

    const forwarded = await waitFor(async () => {
      const records = await upstreamRecords(h);
      return records.length >= 28 ? records : undefined;
    });
    expectContiguousChain(forwarded, 28);
    expect(forwarded.every((r) => typeof r.mac === 'string' && r.chain === store.chainId)).toBe(true);
    await waitFor(() => store.forwardedThroughSeq() === 28, { description: 'forward checkpoint' });

    const verify = await call(h, 'verifyChain', {});
    expect(verify.payload).toMatchObject({ status: 'intact', checked: 28, macChecked: true });
    // over the 128 KB method limit: refused by edgeHub before it reaches the module
    await expect(
      call(h, 'record', { records: Array.from({ length: 2_000 }, (_, i) => sampleRecord(i)) }),
    ).rejects.toMatchObject({ details: { status: 413 } });
    const empty = await call(h, 'record', { records: [] });
    expect(empty.payload).toMatchObject({ code: 'AUDIT_RECORD_INVALID' });
    expect(store.head.seq).toBe(28);
    const ranged = await call(h, 'verifyChain', { from: 5, to: 9 });
    expect(ranged.payload).toMatchObject({ status: 'intact', checked: 5 });
    const badRange = await call(h, 'verifyChain', { from: 9, to: 5 });
    expect(badRange.payload).toMatchObject({ code: 'AUDIT_QUERY_INVALID' });

    const page = await call(h, 'query', { instanceId: 'inst-1', limit: 3 });
    const body = page.payload as { records: ChainedRecord[]; nextAfterSeq: number | null };
    expect(body.records).toHaveLength(3);
    expect(body.nextAfterSeq).toBe(body.records[2]?.seq);
    expect(body.records.every((r) => r.record.correlation?.instanceId === 'inst-1')).toBe(true);
    const badQuery = await call(h, 'query', { from: 'tomorrow' });
    expect(badQuery.payload).toMatchObject({ code: 'AUDIT_QUERY_INVALID' });
  });

  it('keeps forwarding in order across an upstream outage: none missing after it comes back', async () => {
    const { h, store } = await setup();
    for (let n = 1; n <= 10; n += 1) expect((await call(h, 'record', sampleRecord(n))).status).toBe(200);
    await waitFor(async () => (await upstreamRecords(h)).length >= 10);
    await h.hub.control.setOnline(false);
    const batch = (from: number) => ({ records: Array.from({ length: 20 }, (_, i) => sampleRecord(from + i)) });
    for (let n = 11; n <= 90; n += 20) expect((await call(h, 'record', batch(n))).status).toBe(200);
    // edgeHub took them all (the forward outbox drained into its store) but the cloud has only the first 10
    await waitFor(() => store.forwardedThroughSeq() === 90, { description: 'edgeHub accepted all 90' });
    expect(await upstreamRecords(h)).toHaveLength(10);
    await h.hub.control.setOnline(true);
    const forwarded = await waitFor(async () => {
      const records = await upstreamRecords(h);
      return records.length >= 90 ? records : undefined;
    });
    expectContiguousChain(forwarded, 90);
  });

  it('exports a batch record as JSON and as a readable HTML report, in pages', async () => {
    const { h } = await setup();
    const batch = {
      batchId: 'B-2026-042',
      instanceId: 'inst-42',
      workflowId: 'mix-and-fill',
      workflowVersion: 'sha256:abc',
    };
    const base = (n: number, action: string) =>
      sampleRecord(1000 + n, { action, correlation: batch, target: { type: 'batch', id: 'B-2026-042' } });
    const records = [
      {
        ...base(1, 'batch.started'),
        after: {
          product: 'Vanilla Yoghurt 500 g',
          quantity: 1200,
          recipe: { id: 'yoghurt-vanilla', version: '7', parameters: { mixTempC: 42.5, mixTimeMin: 18 } },
        },
      },
      {
        ...base(2, 'recipe.parameter.changed'),
        before: { mixTimeMin: 18 },
        after: { mixTimeMin: 20 },
        reason: 'viscosity low',
      },
      { ...base(3, 'device.write'), target: { type: 'tag', id: 'Mixer1.Speed' }, before: 100, after: 120 },
      { ...base(4, 'alert.raised'), details: { severity: 'high' }, reason: 'Mixer1 temperature <high> & rising' },
      { ...base(5, 'deviation.recorded'), reason: 'Temperature exceeded 45 °C for 3 min' },
      {
        ...base(6, 'deviation.approved'),
        reason: 'Product within spec after QA check',
        signature: {
          signer: 'qa.mueller',
          signerName: 'Dr. Anna Müller',
          meaning: 'approved',
          time: '2026-11-25T11:00:00Z',
        },
      },
      { ...base(7, 'batch.completed') },
    ];
    expect((await call(h, 'record', { records })).status).toBe(200);
    // other batches' records in between do not show up
    expect((await call(h, 'record', sampleRecord(5))).status).toBe(200);

    const pages: string[] = [];
    let offset: number | null = 0;
    let sha = '';
    for (let i = 0; i < 50 && offset !== null; i += 1) {
      const result = await call(h, 'exportBatch', { batchId: 'B-2026-042', format: 'html', offset, maxBytes: 2_048 });
      expect(result.status).toBe(200);
      const page = result.payload as { content: string; nextOffset: number | null; sha256: string };
      pages.push(page.content);
      offset = page.nextOffset;
      sha = page.sha256;
    }
    expect(pages.length).toBeGreaterThan(1);
    const html = pages.join('');
    expect(createHash('sha256').update(html).digest('hex')).toBe(sha);
    expect(html).toContain('<h1>Batch record <span id="batch-id">B-2026-042</span></h1>');
    expect(html).toContain('Chain intact over records');
    expect(html).toContain('<dd id="product">Vanilla Yoghurt 500 g</dd>');
    expect(html).toContain('<dd id="recipe">yoghurt-vanilla version 7</dd>');
    expect(html).toMatch(/<td>mixTempC<\/td><td>42.5<\/td>/);
    expect(html).toContain('Dr. Anna Müller (qa.mueller)');
    expect(html).toContain('Temperature exceeded 45 °C for 3 min');
    expect(html).toContain('Mixer1 temperature &lt;high&gt; &amp; rising');
    expect(html).toContain('<dd id="outcome">completed</dd>');
    expect(html).not.toContain('<high>');

    const json = await call(h, 'exportBatch', { batchId: 'B-2026-042', format: 'json' });
    const report = JSON.parse((json.payload as { content: string }).content) as {
      records: unknown[];
      approvals: { meaning: string }[];
      deviations: unknown[];
      alerts: unknown[];
      verification: VerifyReport;
      recipe: { parameters: Record<string, number> };
    };
    expect(report.records).toHaveLength(7);
    expect(report.approvals).toEqual([expect.objectContaining({ meaning: 'approved' })]);
    expect(report.deviations).toHaveLength(2);
    expect(report.alerts).toHaveLength(1);
    expect(report.recipe.parameters).toEqual({ mixTempC: 42.5, mixTimeMin: 18 });
    expect(report.verification.status).toBe('intact');
    const missing = await call(h, 'exportBatch', { batchId: 'nope' });
    expect(missing.payload).toMatchObject({ code: 'AUDIT_NOT_FOUND' });
  });

  it('applies retention settings from the twin and acknowledges them (PnP); bad settings are refused', async () => {
    const { h, audit, store } = await setup();
    const reported = await waitFor(async () => (await h.hub.control.twin('audit')).reported['chain']);
    expect(reported).toMatchObject({ id: store.chainId, headSeq: 0, mac: true });
    const v = await h.hub.control.patchDesired('audit', { settings: { retentionDays: 30, pruneIntervalS: 600 } });
    await waitFor(() => audit.currentSettings.retentionDays === 30);
    const bad = await h.hub.control.patchDesired('audit', { settings: { retentionDays: -1 } });
    const ack = await waitFor(async () => {
      const twin = await h.hub.control.twin('audit');
      const a = twin.reported['settings'] as { av?: number; ac?: number } | undefined;
      return a?.av === bad ? a : undefined;
    });
    expect(ack.ac).toBe(400);
    expect(audit.currentSettings.retentionDays).toBe(30);
    expect(bad).toBeGreaterThan(v);
  });
});
