/**
 * Workflow telemetry seam: workflow duration, step latency and failures as custom metrics. Application
 * Insights is used only when `APPLICATIONINSIGHTS_CONNECTION_STRING` is set (the edge-kit helper loads
 * its transport lazily); otherwise nothing is loaded and nothing is contacted.
 */
import { type Logger, createTelemetry } from '@takt/edge-kit';

export interface WorkflowTelemetry {
  workflowDuration(ms: number, properties: { workflowId: string; status: string }): void;
  stepLatency(ms: number, properties: { workflowId: string; step: string; ok: boolean }): void;
  failure(properties: { workflowId: string; code: string }): void;
  close(): Promise<void>;
}

export const noTelemetry: WorkflowTelemetry = {
  workflowDuration: () => undefined,
  stepLatency: () => undefined,
  failure: () => undefined,
  close: () => Promise.resolve(),
};

/** Fans out to several sinks (Prometheus and, when configured, Application Insights). */
export function combineTelemetry(...sinks: readonly WorkflowTelemetry[]): WorkflowTelemetry {
  return {
    workflowDuration: (ms, p) => sinks.forEach((s) => s.workflowDuration(ms, p)),
    stepLatency: (ms, p) => sinks.forEach((s) => s.stepLatency(ms, p)),
    failure: (p) => sinks.forEach((s) => s.failure(p)),
    close: async () => {
      await Promise.all(sinks.map((s) => s.close()));
    },
  };
}

/**
 * Application Insights through the shared edge-kit helper, only when the connection string is set:
 * workflow duration, step latency and failures as custom metrics. Unset: the no-op sink, nothing
 * loaded, nothing contacted.
 */
export async function loadTelemetry(
  env: Readonly<Record<string, string | undefined>>,
  logger: Logger,
  roleInstance?: string,
): Promise<WorkflowTelemetry> {
  const connection = env['APPLICATIONINSIGHTS_CONNECTION_STRING'];
  if (connection === undefined || connection.trim() === '') return noTelemetry;
  const telemetry = await createTelemetry({
    env,
    roleName: 'orchestrator',
    logger,
    ...(roleInstance === undefined ? {} : { roleInstance }),
  });
  if (!telemetry.enabled) return noTelemetry;
  return {
    workflowDuration: (ms, p) =>
      telemetry.trackMetric('workflow_duration_ms', ms, { workflowId: p.workflowId, status: p.status }),
    stepLatency: (ms, p) =>
      telemetry.trackMetric('step_latency_ms', ms, { workflowId: p.workflowId, step: p.step, ok: String(p.ok) }),
    failure: (p) => telemetry.trackMetric('workflow_failures', 1, { workflowId: p.workflowId, code: p.code }),
    close: () => telemetry.close(),
  };
}
