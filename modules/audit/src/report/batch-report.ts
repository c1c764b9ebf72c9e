/**
 * The batch record of one batch (ISA-88 / 21 CFR 211.188 style): what was made, with which recipe
 * parameters, who approved what, every deviation and alert, and every record in chain order — as
 * JSON and as a readable, self-contained HTML page. Pure: records in, report out.
 */
import type { JsonValue } from '../domain/record.js';
import type { ChainedRecord, VerifyReport } from '../store/audit-store.js';

export interface BatchApproval {
  seq: number;
  signer: string;
  signerName?: string;
  meaning: string;
  time: string;
  action: string;
  target: string;
  reason?: string;
}

export interface BatchReport {
  batchId: string;
  chain: string;
  /** Sequence numbers the batch's records span. */
  firstSeq: number;
  lastSeq: number;
  /** Chain verification over firstSeq…lastSeq (every record in between, not only this batch's). */
  verification: Pick<VerifyReport, 'status' | 'from' | 'to' | 'checked' | 'macChecked' | 'firstBroken'>;
  product: JsonValue | null;
  quantity: JsonValue | null;
  recipe: { id: JsonValue | null; version: JsonValue | null; parameters: { [key: string]: JsonValue } } | null;
  workflow: { id: string; version: string | null } | null;
  instanceIds: string[];
  startedAt: string | null;
  endedAt: string | null;
  outcome: string | null;
  approvals: BatchApproval[];
  parameterChanges: ChainedRecord[];
  deviceWrites: ChainedRecord[];
  deviations: ChainedRecord[];
  alerts: ChainedRecord[];
  records: ChainedRecord[];
}

const START = /^(batch|instance)\.started$/;
const END = /^(batch|instance)\.(completed|aborted|stopped|failed|cancelled)$/;

function isObject(value: unknown): value is { [key: string]: JsonValue } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Looks a field up in `after`, then `details`, of a record. */
function field(record: ChainedRecord | undefined, name: string): JsonValue | undefined {
  if (!record) return undefined;
  const after = record.record.after;
  if (isObject(after) && after[name] !== undefined) return after[name];
  return record.record.details?.[name];
}

/** Builds the batch report from the batch's records (in sequence order). */
export function buildBatchReport(
  batchId: string,
  chain: string,
  records: readonly ChainedRecord[],
  verification: BatchReport['verification'],
): BatchReport {
  const start = records.find((r) => START.test(r.record.action));
  const end = [...records].reverse().find((r) => END.test(r.record.action));
  const recipeValue = field(start, 'recipe');
  const recipe = isObject(recipeValue)
    ? {
        id: recipeValue['id'] ?? null,
        version: recipeValue['version'] ?? null,
        parameters: isObject(recipeValue['parameters']) ? recipeValue['parameters'] : {},
      }
    : null;
  const correlation = records.find((r) => r.record.correlation?.workflowId)?.record.correlation;
  const instanceIds = [
    ...new Set(records.map((r) => r.record.correlation?.instanceId).filter((v): v is string => v !== undefined)),
  ];
  const approvals: BatchApproval[] = [];
  for (const r of records) {
    const s = r.record.signature;
    if (!s) continue;
    approvals.push({
      seq: r.seq,
      signer: s.signer,
      ...(s.signerName === undefined ? {} : { signerName: s.signerName }),
      meaning: s.meaning,
      time: s.time,
      action: r.record.action,
      target: `${r.record.target.type} ${r.record.target.id}`,
      ...(r.record.reason === undefined ? {} : { reason: r.record.reason }),
    });
  }
  return {
    batchId,
    chain,
    firstSeq: records[0]?.seq ?? 0,
    lastSeq: records[records.length - 1]?.seq ?? 0,
    verification,
    product: field(start, 'product') ?? null,
    quantity: field(start, 'quantity') ?? null,
    recipe,
    workflow: correlation?.workflowId
      ? { id: correlation.workflowId, version: correlation.workflowVersion ?? null }
      : null,
    instanceIds,
    startedAt: start?.record.timestamp ?? records[0]?.record.timestamp ?? null,
    endedAt: end?.record.timestamp ?? null,
    outcome: end ? (end.record.action.split('.')[1] ?? null) : null,
    approvals,
    parameterChanges: records.filter((r) => r.record.action.startsWith('recipe.')),
    deviceWrites: records.filter((r) => r.record.action.startsWith('device.')),
    deviations: records.filter((r) => r.record.action.startsWith('deviation.')),
    alerts: records.filter((r) => r.record.action.startsWith('alert.')),
    records: [...records],
  };
}

/** HTML-escapes text for element content and attribute values. */
export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

function show(value: JsonValue | undefined | null): string {
  if (value === undefined || value === null) return '—';
  return escapeHtml(typeof value === 'string' ? value : JSON.stringify(value));
}

function table(headers: readonly string[], rows: readonly (readonly string[])[], empty: string): string {
  if (rows.length === 0) return `<p class="none">${escapeHtml(empty)}</p>`;
  const head = headers.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const body = rows.map((cells) => `<tr>${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

function recordRow(r: ChainedRecord): string[] {
  const rec = r.record;
  return [
    String(r.seq),
    escapeHtml(rec.timestamp),
    escapeHtml(`${rec.actor.name ?? rec.actor.id} (${rec.actor.type})`),
    escapeHtml(rec.action),
    escapeHtml(`${rec.target.type} ${rec.target.name ?? rec.target.id}`),
    `${show(rec.before)} → ${show(rec.after)}`,
    rec.reason === undefined ? '—' : escapeHtml(rec.reason),
  ];
}

const RECORD_HEADERS = ['seq', 'time', 'actor', 'action', 'target', 'before → after', 'reason'];

/** A self-contained HTML page (no scripts, no external resources) of the batch report. */
export function renderBatchReportHtml(report: BatchReport): string {
  const v = report.verification;
  const verdict =
    v.status === 'intact'
      ? `<p class="ok">Chain intact over records ${v.from}–${v.to} (${v.checked} checked${v.macChecked ? ', MACs checked' : ''}).</p>`
      : `<p class="bad">Chain BROKEN at record ${v.firstBroken?.seq ?? '?'}: ${escapeHtml(v.firstBroken?.reason ?? '')} — ${escapeHtml(v.firstBroken?.detail ?? '')}</p>`;
  const parameters = report.recipe
    ? table(
        ['parameter', 'value'],
        Object.entries(report.recipe.parameters).map(([k, value]) => [escapeHtml(k), show(value)]),
        'The recipe has no parameters.',
      )
    : '<p class="none">No recipe recorded at batch start.</p>';
  const approvals = table(
    ['seq', 'signed by', 'meaning', 'time', 'action', 'target', 'reason'],
    report.approvals.map((a) => [
      String(a.seq),
      escapeHtml(a.signerName ? `${a.signerName} (${a.signer})` : a.signer),
      escapeHtml(a.meaning),
      escapeHtml(a.time),
      escapeHtml(a.action),
      escapeHtml(a.target),
      a.reason === undefined ? '—' : escapeHtml(a.reason),
    ]),
    'No electronic signatures.',
  );
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Batch record ${escapeHtml(report.batchId)}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; width: 100%; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.5em; text-align: left; vertical-align: top; font-size: 0.9em; }
th { background: #eee; }
.ok { color: #0a6b1f; font-weight: bold; } .bad { color: #b00020; font-weight: bold; } .none { color: #777; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }
dt { font-weight: bold; }
</style>
</head>
<body>
<h1>Batch record <span id="batch-id">${escapeHtml(report.batchId)}</span></h1>
${verdict}
<h2>What was made</h2>
<dl>
<dt>Product</dt><dd id="product">${show(report.product)}</dd>
<dt>Quantity</dt><dd>${show(report.quantity)}</dd>
<dt>Recipe</dt><dd id="recipe">${report.recipe ? `${show(report.recipe.id)} version ${show(report.recipe.version)}` : '—'}</dd>
<dt>Workflow</dt><dd>${report.workflow ? `${escapeHtml(report.workflow.id)} version ${show(report.workflow.version)}` : '—'}</dd>
<dt>Instances</dt><dd>${report.instanceIds.map(escapeHtml).join(', ') || '—'}</dd>
<dt>Started</dt><dd>${show(report.startedAt)}</dd>
<dt>Ended</dt><dd>${show(report.endedAt)}</dd>
<dt>Outcome</dt><dd id="outcome">${show(report.outcome)}</dd>
<dt>Audit chain</dt><dd>${escapeHtml(report.chain)}, records ${report.firstSeq}–${report.lastSeq}</dd>
</dl>
<h2>Recipe parameters</h2>
${parameters}
<h3>Parameter changes</h3>
${table(RECORD_HEADERS, report.parameterChanges.map(recordRow), 'No parameter changes.')}
<h2 id="approvals">Approvals and electronic signatures</h2>
${approvals}
<h2 id="deviations">Deviations</h2>
${table(RECORD_HEADERS, report.deviations.map(recordRow), 'No deviations.')}
<h2 id="alerts">Alerts</h2>
${table(RECORD_HEADERS, report.alerts.map(recordRow), 'No alerts.')}
<h2>Device writes</h2>
${table(RECORD_HEADERS, report.deviceWrites.map(recordRow), 'No device writes.')}
<h2>All records</h2>
${table(RECORD_HEADERS, report.records.map(recordRow), 'No records.')}
</body>
</html>
`;
}
