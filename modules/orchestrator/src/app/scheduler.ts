/**
 * Schedule triggers (croner): each run starts the workflow with an idempotency key made of the
 * trigger and the planned run time, so a run is started once even if the module restarts during it.
 * Runs missed while the module was off follow the trigger's `missedRuns` policy (`scheduleRuns`).
 */
import { Cron } from 'croner';
import { type Logger, type SqliteDatabase, errorMessage } from '@takt/edge-kit';
import { type JsonObject, type ScheduleTrigger, type WorkflowDefinition, scheduleRuns } from '@takt/workflow';

export interface SchedulerOptions {
  db: SqliteDatabase;
  logger: Logger;
  now: () => number;
  trigger: (
    workflowId: string,
    request: { idempotencyKey: string; parameters?: JsonObject; trigger: string },
  ) => Promise<void>;
}

export class Scheduler {
  private readonly jobs = new Map<string, Cron[]>();
  private readonly log: Logger;
  private readonly stmt;
  private closed = false;

  constructor(private readonly options: SchedulerOptions) {
    this.log = options.logger.child({ component: 'scheduler' });
    this.stmt = {
      last: options.db.prepare<[string], number>('SELECT last_run_ms FROM schedule_runs WHERE trigger_key = ?').pluck(),
      set: options.db.prepare(
        'INSERT INTO schedule_runs (trigger_key, last_run_ms) VALUES (?, ?) ON CONFLICT (trigger_key) DO UPDATE SET last_run_ms = MAX(last_run_ms, excluded.last_run_ms)',
      ),
    };
  }

  close(): void {
    this.closed = true;
    for (const jobs of this.jobs.values()) for (const job of jobs) job.stop();
    this.jobs.clear();
  }

  setTriggers(workflowId: string, definition: WorkflowDefinition | undefined): void {
    for (const job of this.jobs.get(workflowId) ?? []) job.stop();
    this.jobs.delete(workflowId);
    if (definition === undefined || this.closed) return;
    const jobs: Cron[] = [];
    (definition.triggers ?? []).forEach((trigger, index) => {
      if (trigger.kind !== 'schedule' || trigger.enabled === false) return;
      const key = `${workflowId}:${index}:${trigger.cron}:${trigger.timezone ?? 'UTC'}`;
      this.catchUp(workflowId, key, trigger);
      const job = new Cron(trigger.cron, { timezone: trigger.timezone ?? 'UTC', protect: true }, () => {
        const plannedMs = job.currentRun()?.getTime() ?? this.options.now();
        this.run(workflowId, key, plannedMs);
      });
      jobs.push(job);
    });
    if (jobs.length > 0) this.jobs.set(workflowId, jobs);
  }

  private catchUp(workflowId: string, key: string, trigger: ScheduleTrigger): void {
    const nowMs = this.options.now();
    const last = this.stmt.last.get(key);
    if (last === undefined) {
      this.stmt.set.run(key, nowMs); // first deployment: nothing was missed
      return;
    }
    const { missedMs } = scheduleRuns(trigger, last, nowMs);
    for (const plannedMs of missedMs) this.run(workflowId, key, plannedMs);
    if (missedMs.length === 0) this.stmt.set.run(key, nowMs);
  }

  private run(workflowId: string, key: string, plannedMs: number): void {
    this.stmt.set.run(key, plannedMs);
    this.options
      .trigger(workflowId, { idempotencyKey: `schedule:${key}:${plannedMs}`, trigger: 'schedule' })
      .catch((error: unknown) => this.log.warn('scheduled start failed', { workflowId, error: errorMessage(error) }));
  }
}
