import { writeFileSync } from 'node:fs';
import { isCodedError } from '@takt/edge-kit';
import { buildBatchReport, renderBatchReportHtml } from '../report/batch-report.js';
import { AuditStore } from '../store/audit-store.js';

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

const USAGE = `usage:
  audit verify --db <file> [--from N] [--to M]      exit 0 intact, 1 broken, 2 usage/error
  audit export --db <file> --batch <id> [--format html|json] [--out <file>]
environment: TAKT_AUDIT_MAC_KEY (also check the MACs)`;

function flags(args: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < args.length; i += 2) {
    const name = args[i];
    const value = args[i + 1];
    if (!name?.startsWith('--') || value === undefined)
      throw new Error(`expected --name value pairs, got ${name ?? ''}`);
    out.set(name.slice(2), value);
  }
  return out;
}

function seqFlag(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a sequence number ≥ 1`);
  return n;
}

/**
 * The audit CLI without the process around it: `verify` prints the verification report as JSON and
 * exits 0 when intact, 1 when broken; `export` writes a batch report.
 */
export function runCli(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): CliResult {
  const [command, ...rest] = argv;
  let parsed: Map<string, string>;
  try {
    parsed = flags(rest);
    if (command !== 'verify' && command !== 'export') throw new Error(`unknown command ${command ?? '(none)'}`);
    if (!parsed.get('db')) throw new Error('--db is required');
  } catch (error) {
    return { exitCode: 2, stdout: '', stderr: `${error instanceof Error ? error.message : String(error)}\n${USAGE}\n` };
  }
  const key = env['TAKT_AUDIT_MAC_KEY'];
  let store: AuditStore | undefined;
  try {
    store = AuditStore.open(parsed.get('db') ?? '', {
      readonly: true,
      ...(key ? { macKey: Buffer.from(key, 'utf8') } : {}),
    });
    if (command === 'verify') {
      const report = store.verify({ from: seqFlag(parsed.get('from'), 'from'), to: seqFlag(parsed.get('to'), 'to') });
      return { exitCode: report.status === 'intact' ? 0 : 1, stdout: `${JSON.stringify(report)}\n`, stderr: '' };
    }
    const batchId = parsed.get('batch');
    if (!batchId) throw new Error('--batch is required');
    const format = parsed.get('format') ?? 'html';
    if (format !== 'html' && format !== 'json') throw new Error('--format must be html or json');
    const records = store.batchRecords(batchId);
    const first = records[0];
    const last = records[records.length - 1];
    if (!first || !last) throw new Error(`no audit records for batch ${batchId}`);
    const v = store.verify({ from: first.seq, to: last.seq });
    const report = buildBatchReport(batchId, store.chainId, records, {
      status: v.status,
      from: v.from,
      to: v.to,
      checked: v.checked,
      macChecked: v.macChecked,
      ...(v.firstBroken ? { firstBroken: v.firstBroken } : {}),
    });
    const text = format === 'html' ? renderBatchReportHtml(report) : `${JSON.stringify(report, null, 2)}\n`;
    const out = parsed.get('out');
    if (out) {
      writeFileSync(out, text);
      return {
        exitCode: 0,
        stdout: `${JSON.stringify({ written: out, bytes: Buffer.byteLength(text) })}\n`,
        stderr: '',
      };
    }
    return { exitCode: 0, stdout: text, stderr: '' };
  } catch (error) {
    const body = isCodedError(error)
      ? { code: error.code, message: error.message }
      : { message: error instanceof Error ? error.message : String(error) };
    return { exitCode: 2, stdout: '', stderr: `${JSON.stringify(body)}\n` };
  } finally {
    store?.close();
  }
}
