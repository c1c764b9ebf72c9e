/**
 * Workflow definitions from the twin: each `workflows.<id>` entry is validated on its own (a bad one is
 * acknowledged 400 with its problems and never disturbs the others), registered with the engine by
 * content hash, and becomes the version new instances of that id start with. Deleting an entry stops
 * new starts; running instances finish on the version they pinned.
 */
import type { PropertyVerdict } from '@takt/edge-kit';
import {
  type ValidationProblem,
  type WorkflowDefinition,
  type WorkflowReference,
  validateWorkflow,
} from '@takt/workflow';
import type { ReferenceCache } from './references.js';

export interface DeployedWorkflow {
  id: string;
  version: string;
  hash: string;
  definition: WorkflowDefinition;
  deployedAtMs: number;
}

export interface DefinitionStatus {
  id: string;
  ac: number;
  version?: string;
  hash?: string;
  problems?: string[];
}

/** One validation problem as a short line (`CODE /pointer: message`). */
export function problemLine(problem: Pick<ValidationProblem, 'code' | 'pointer' | 'message'>): string {
  const line = `${problem.code} ${problem.pointer || '/'}: ${problem.message}`;
  return line.length > 120 ? `${line.slice(0, 119)}…` : line;
}

/** At most this many problems go into an ack's `ad`; the console and `validateWorkflow` give them all. */
const MAX_ACK_PROBLEMS = 2;

/**
 * Problems for an ack: the first two lines and a count of the rest, so that even many rejected
 * definitions keep the reported properties far below the 32 KB limit (≈ 260 characters per ack).
 */
export function ackProblems(lines: readonly string[]): string[] {
  if (lines.length <= MAX_ACK_PROBLEMS) return [...lines];
  return [...lines.slice(0, MAX_ACK_PROBLEMS), `+${lines.length - MAX_ACK_PROBLEMS} more (validateWorkflow lists all)`];
}

export class DefinitionRegistry {
  private readonly deployed = new Map<string, DeployedWorkflow>();
  private readonly rejected = new Map<string, string[]>();

  private readonly pending = new Map<string, string>();

  constructor(
    private readonly register: (definition: WorkflowDefinition) => string,
    private readonly now: () => number = Date.now,
    private readonly references?: ReferenceCache,
    /** A reference finished fetching (`problem` undefined) or failed; the entry should be judged again. */
    private readonly onReference?: (key: string, value: unknown, problem: string | undefined) => void,
  ) {}

  /** Validates one twin entry and registers it with the engine (the ack echoes `{version, hash}`). */
  validateEntry(value: unknown, key: string): PropertyVerdict<DeployedWorkflow> {
    const result = validateWorkflow(value, { maxProblems: 20 });
    const problems = result.problems.filter((p) => p.severity === 'error').map(problemLine);
    if (problems.length === 0 && result.kind === 'reference')
      return this.validateReference(value as WorkflowReference, key);
    return this.judge(value, key, problems);
  }

  private validateReference(reference: WorkflowReference, key: string): PropertyVerdict<DeployedWorkflow> {
    if (reference.id !== key) {
      return this.refuse(key, [`SCHEMA_INVALID /id: the id "${reference.id}" must equal the twin key "${key}"`]);
    }
    const cached = this.references?.get(reference);
    if (cached === undefined) {
      if (this.references === undefined) {
        return this.refuse(key, ['ORCH_REFERENCE_FAILED /uri: definitions by reference are not enabled here']);
      }
      const fingerprint = JSON.stringify(reference);
      this.pending.set(key, fingerprint);
      this.references.fetch(reference).then(
        (fetched) => {
          if (fetched && this.pending.get(key) === fingerprint) this.onReference?.(key, reference, undefined);
        },
        (error: unknown) => {
          if (this.pending.get(key) !== fingerprint) return;
          const problem = error instanceof Error ? error.message : String(error);
          this.rejected.set(key, [problem]);
          this.onReference?.(key, reference, problem);
        },
      );
      return this.refuse(key, [`REFERENCE_PENDING /uri: fetching ${reference.uri}; acknowledged again once verified`]);
    }
    this.pending.delete(key);
    const result = validateWorkflow(cached, { maxProblems: 20 });
    const problems = result.problems.filter((p) => p.severity === 'error').map(problemLine);
    const def = cached as WorkflowDefinition;
    if (problems.length === 0 && def.version !== reference.version) {
      problems.push(
        `REFERENCE_INVALID /version: the document is version "${String(def.version)}", the reference says "${reference.version}"`,
      );
    }
    return this.judge(cached, key, problems, { uri: reference.uri });
  }

  private refuse(key: string, problems: string[]): PropertyVerdict<DeployedWorkflow> {
    this.rejected.set(key, problems);
    return { ok: false, problems: ackProblems(problems) };
  }

  private judge(
    value: unknown,
    key: string,
    found: string[],
    extra: Record<string, string> = {},
  ): PropertyVerdict<DeployedWorkflow> {
    const problems = [...found];
    const def = value as WorkflowDefinition;
    if (problems.length === 0 && def.id !== key) {
      problems.push(`SCHEMA_INVALID /id: the id "${String(def.id)}" must equal the twin key "${key}"`);
    }
    if (problems.length > 0) return this.refuse(key, problems);
    let hash: string;
    try {
      hash = this.register(def);
    } catch (error) {
      const details = (error as { details?: { problems?: ValidationProblem[] } }).details;
      const lines = details?.problems?.map(problemLine) ?? [error instanceof Error ? error.message : String(error)];
      return this.refuse(key, lines);
    }
    this.rejected.delete(key);
    const deployed: DeployedWorkflow = {
      id: key,
      version: def.version,
      hash,
      definition: def,
      deployedAtMs: this.now(),
    };
    // The ack echoes a compact value (version + 16 hex digits of the content hash), not the definition:
    // hundreds of acks must fit the 32 KB reported-properties limit.
    return { ok: true, value: deployed, ackValue: { version: def.version, hash: hash.slice(0, 16), ...extra } };
  }

  /** What the twin binder accepted: now in force. Returns the previous one (for the audit record). */
  deploy(workflow: DeployedWorkflow): DeployedWorkflow | undefined {
    const previous = this.deployed.get(workflow.id);
    this.deployed.set(workflow.id, workflow);
    return previous;
  }

  remove(id: string): DeployedWorkflow | undefined {
    const previous = this.deployed.get(id);
    this.deployed.delete(id);
    this.rejected.delete(id);
    this.pending.delete(id);
    return previous;
  }

  get(id: string): DeployedWorkflow | undefined {
    return this.deployed.get(id);
  }

  all(): DeployedWorkflow[] {
    return [...this.deployed.values()];
  }

  /** Every entry with its verdict (for the console and reported health). */
  statuses(): DefinitionStatus[] {
    const out: DefinitionStatus[] = [];
    for (const w of this.deployed.values()) {
      const problems = this.rejected.get(w.id);
      out.push({ id: w.id, ac: 200, version: w.version, hash: w.hash, ...(problems ? { problems } : {}) });
    }
    for (const [id, problems] of this.rejected) {
      if (!this.deployed.has(id)) out.push({ id, ac: 400, problems });
    }
    return out;
  }
}
