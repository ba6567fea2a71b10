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

const DAY_MS = 86_400_000;

function refuseFutureWindow(end: string, aheadMs: number): void {
  const now = Date.now();
  if (Date.parse(end) <= now + aheadMs) return;
  throw ApplicationFailure.nonRetryable(
    `invalid pipelineRun input:\nwindow.end: ${end} is more than ${aheadMs / 60_000} minutes after now (${new Date(now).toISOString()}); ` +
      'a window may end at most one cadence (a reload partition: one day) ahead',
    'InvalidInput',
  );
}

/** Creates the plan activity: resolves the dataset from validated config (unknown dataset fails at once). */
export function createPlanActivities(deps: ActivityDeps) {
  return {
    /**
     * Looks up the dataset's tables, published models and gate timeout, and refuses a window that ends
     * further ahead than the dataset's cadence (a business-date partition: one day) — it would certify data
     * nobody has seen yet.
     */
    async planRun(input: {
      dataset: string;
      window?: { start: string; end: string };
      partition?: boolean;
    }): Promise<RunPlan> {
      try {
        const ds = getDataset(deps.config, input.dataset);
        if (input.window) refuseFutureWindow(input.window.end, input.partition ? DAY_MS : parseDuration(ds.cadence));
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
