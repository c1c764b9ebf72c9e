/**
 * Workflow definitions from the twin: each `workflows.<id>` entry is validated on its own (a bad one is
 * acknowledged 400 with its problems and never disturbs the others), registered with the engine by
 * content hash, and becomes the version new instances of that id start with. Deleting an entry stops
 * new starts; running instances finish on the version they pinned.
 */
import type { PropertyVerdict } from '@takt/edge-kit';
import { type ValidationProblem, type WorkflowDefinition, validateWorkflow } from '@takt/workflow';

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
  const text = problem.message.length > 160 ? `${problem.message.slice(0, 157)}…` : problem.message;
  return `${problem.code} ${problem.pointer || '/'}: ${text}`;
}

export class DefinitionRegistry {
  private readonly deployed = new Map<string, DeployedWorkflow>();
  private readonly rejected = new Map<string, string[]>();

  constructor(
    private readonly register: (definition: WorkflowDefinition) => string,
    private readonly now: () => number = Date.now,
  ) {}

  /** Validates one twin entry and registers it with the engine (the ack echoes `{version, hash}`). */
  validateEntry(value: unknown, key: string): PropertyVerdict<DeployedWorkflow> {
    const result = validateWorkflow(value, { maxProblems: 20 });
    const problems = result.problems.filter((p) => p.severity === 'error').map(problemLine);
    if (result.kind === 'reference' && problems.length === 0) {
      problems.push(
        'ORCH_REFERENCE_UNSUPPORTED /uri: definitions by reference are not fetched by this version; deliver it inline',
      );
    }
    const def = value as WorkflowDefinition;
    if (problems.length === 0 && def.id !== key) {
      problems.push(`SCHEMA_INVALID /id: the id "${String(def.id)}" must equal the twin key "${key}"`);
    }
    if (problems.length > 0) {
      this.rejected.set(key, problems);
      return { ok: false, problems };
    }
    let hash: string;
    try {
      hash = this.register(def);
    } catch (error) {
      const details = (error as { details?: { problems?: ValidationProblem[] } }).details;
      const lines = details?.problems?.map(problemLine) ?? [error instanceof Error ? error.message : String(error)];
      this.rejected.set(key, lines);
      return { ok: false, problems: lines };
    }
    this.rejected.delete(key);
    const deployed: DeployedWorkflow = {
      id: key,
      version: def.version,
      hash,
      definition: def,
      deployedAtMs: this.now(),
    };
    return { ok: true, value: deployed, ackValue: { version: def.version, hash } };
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
