import { ApplicationFailure, Context } from '@temporalio/activity';
import { extractTaskQueue } from '../workflows/ids';
import { parseDuration } from '../config/duration';
import { ConfigError, getDataset } from '../config/load';
import type { ActivityDeps } from './deps';

/** What the workflow needs to know about a dataset: names and limits, no credentials. */
export interface RunPlan {
  dataset: string;
  /** Tables read by extract (incremental or full). */
  tables: string[];
  /** Tables read from the replication slot. */
  cdcTables: string[];
  publish: string[];
  gateTimeoutMs: number;
  /** How long a run whose BI refresh failed waits for retryRefresh (bi.failedRefreshTimeout). */
  failedRefreshTimeoutMs: number;
  /** Where extract activities for this dataset's source are dispatched. */
  extractTaskQueue: string;
  /** Upstream datasets whose publish this run waits for, with how long (ms). */
  dependsOn: { dataset: string; timeoutMs: number }[];
}

/** Creates the plan activity: resolves the dataset from validated config (unknown dataset fails at once). */
export function createPlanActivities(deps: ActivityDeps) {
  return {
    /** Looks up the dataset's tables, published models and gate timeout. */
    async planRun(input: { dataset: string }): Promise<RunPlan> {
      try {
        const ds = getDataset(deps.config, input.dataset);
        return {
          dataset: ds.name,
          tables: ds.tables.filter((t) => t.mode !== 'cdc').map((t) => t.name),
          cdcTables: ds.tables.filter((t) => t.mode === 'cdc').map((t) => t.name),
          publish: ds.publish,
          gateTimeoutMs: parseDuration(ds.gate.timeout),
          failedRefreshTimeoutMs: parseDuration(ds.bi.failedRefreshTimeout),
          extractTaskQueue: extractTaskQueue(Context.current().info.taskQueue, ds.source),
          dependsOn: ds.dependsOn.map((d) => ({ dataset: d.dataset, timeoutMs: parseDuration(d.timeout) })),
        };
      } catch (err) {
        if (err instanceof ConfigError) throw ApplicationFailure.nonRetryable(err.message, 'ConfigError');
        throw err;
      }
    },
  };
}
