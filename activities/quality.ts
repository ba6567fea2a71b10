import { getDataset, modelsToBuild } from '../config/load';
import { runIdentity, runWarehouse, withHeartbeat, type RunWindow } from './context';
import type { ActivityDeps } from './deps';
import { recordCheckResults } from './warehouse/audit/runs';
import { dialectOf } from './warehouse/dialect';
import { downstreamOf, readModels } from './warehouse/models/catalog';
import { buildModels } from './warehouse/models/build';
import { recordWindowCounts, refreshDatasetHealth } from './warehouse/audit/health';
import { runChecks, type CheckResult, type TableCounts } from './warehouse/quality/checks';
import type { RunStatus } from '../workflows/messages';

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
    async gate(
      input: RunWindow & {
        attempt: number;
        counts: TableCounts[];
        drift?: RunStatus['drift'];
      },
    ): Promise<GateOutcome> {
      return withHeartbeat(deps, 'gate', async () => {
        const ds = getDataset(deps.config, input.dataset);
        const run = runIdentity(input);
        const wh = runWarehouse(deps, input, 'gate');
        // Read once per gate: row checks take each model's key from it, a rebuild after quarantine its DAG.
        const models = readModels();
        const results = [
          ...(await runChecks(wh, {
            dataset: ds,
            runId: run.workflowId,
            counts: input.counts,
            window: input.window,
            models,
            rebuildDownstream: async (quarantined) => {
              const targets = modelsToBuild(ds);
              const only = downstreamOf(models, targets, quarantined);
              if (only.length)
                await buildModels(wh, {
                  dataset: ds.name,
                  targets,
                  runId: run.workflowId,
                  dialect: dialectOf(wh.dialect),
                  only,
                });
            },
          })),
          ...(input.drift ?? []).map(driftResult),
        ];
        await recordCheckResults(deps.warehouse, run, input.attempt, results);
        await recordWindowCounts(deps.warehouse, ds.name, input.window, input.counts);
        await refreshDatasetHealth(deps.warehouse, ds);
        const failed = (sev: string) =>
          results.filter((r) => r.status === 'fail' && r.severity === sev).map((r) => r.check);
        return {
          attempt: input.attempt,
          results,
          critical: failed('critical'),
          errors: failed('error'),
          warnings: failed('warn'),
        };
      });
    },
  };
}

/**
 * Schema drift as a check row, so operators find it with the other checks. Breaking drift is `error`,
 * not `critical`: it holds only the marts that read the table (publish), never the whole dataset.
 */
function driftResult(d: RunStatus['drift'][number]): CheckResult {
  const held = d.breaking && !d.accepted;
  return {
    check: `schema_drift_${d.table}`,
    type: 'schema_drift',
    model: null,
    severity: held ? 'error' : 'warn',
    status: held ? 'fail' : 'pass',
    failingRows: 0,
    quarantinedRows: 0,
    sampleKeys: [],
    detail: held
      ? `${d.table}: ${d.summary} — not loaded; marts reading it keep their last certified version until ${
          d.held?.length ? 'config lists the held columns' : 'the change is accepted (acceptDrift)'
        }`
      : `${d.table}: ${d.summary}${d.accepted ? ' (accepted)' : ''} — flowed into raw`,
  };
}
