import { getDataset } from '../config/load';
import { runIdentity, withHeartbeat, type RunWindow } from './context';
import type { ActivityDeps } from './deps';
import { recordCheckResults } from './warehouse/audit';
import { runChecks, type CheckResult, type TableCounts } from './warehouse/quality';

/** What the gate step returns to the workflow. */
export interface GateOutcome {
  attempt: number;
  results: CheckResult[];
  /** Names of failed critical checks: non-empty blocks publish. */
  critical: string[];
  errors: string[];
  warnings: string[];
}

/** Creates the quality gate activity. */
export function createQualityActivities(deps: ActivityDeps) {
  return {
    /** Runs the dataset's checks on the shadow tables and records them in audit.dq_results. */
    async gate(input: RunWindow & { attempt: number; counts: TableCounts[] }): Promise<GateOutcome> {
      return withHeartbeat(deps, 'gate', async () => {
        const ds = getDataset(deps.config, input.dataset);
        const run = runIdentity(input);
        const results = await runChecks(deps.warehouse, { dataset: ds.name, checks: ds.checks, runId: run.workflowId, counts: input.counts });
        await recordCheckResults(deps.warehouse, run, input.attempt, results);
        const failed = (sev: string) => results.filter((r) => r.status === 'fail' && r.severity === sev).map((r) => r.check);
        return { attempt: input.attempt, results, critical: failed('critical'), errors: failed('error'), warnings: failed('warn') };
      });
    },
  };
}
