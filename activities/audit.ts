import { Context } from '@temporalio/activity';
import { runIdentity, type RunWindow } from './context';
import type { ActivityDeps } from './deps';
import { getDataset } from '../config/load';
import { recordRun } from './warehouse/audit/runs';
import { purgeAudit, refreshDatasetHealth } from './warehouse/audit/health';

/** Creates the audit activity. */
export function createAuditActivities(deps: ActivityDeps) {
  return {
    /** Writes the run's row in audit.pipeline_runs, refreshes audit.dataset_health and drops audit rows past retention. */
    async audit(
      input: RunWindow & {
        status: string;
        steps: unknown;
        gateDecision: unknown;
        error: string | null;
        startedAt: string;
      },
    ): Promise<void> {
      await deps.beforeStep?.('audit', Context.current().info.attempt);
      await recordRun(deps.warehouse, { ...runIdentity(input), ...input });
      await refreshDatasetHealth(deps.warehouse, getDataset(deps.config, input.dataset));
      await purgeAudit(deps.warehouse, deps.config.audit.retention);
    },
  };
}
