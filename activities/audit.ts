import { runIdentity, type RunWindow } from './context';
import type { ActivityDeps } from './deps';
import { recordRun } from './warehouse/audit';

/** Creates the audit activity. */
export function createAuditActivities(deps: ActivityDeps) {
  return {
    /** Writes the run's row in audit.pipeline_runs (status, per-step counts and durations, gate decision). */
    async audit(
      input: RunWindow & { status: string; steps: unknown; gateDecision: unknown; error: string | null; startedAt: string },
    ): Promise<void> {
      await recordRun(deps.warehouse, { ...runIdentity(input), ...input });
    },
  };
}
