import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { FreshnessAlertKind } from '../activities/alert';
import type { DatasetFreshness } from '../activities/freshness';

const check = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumAttempts: 3, nonRetryableErrorTypes: ['ConfigError'] },
});
// An alert that cannot be delivered must not wedge the monitor: a few tries, then the next run tries again.
const notify = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumAttempts: 3, nonRetryableErrorTypes: ['ConfigError'] },
});

/** What one monitor run returns (the Temporal UI shows it): every dataset's freshness and the alerts it sent. */
export interface FreshnessReport {
  checkedAt: string;
  datasets: DatasetFreshness[];
  alerts: { dataset: string; kind: FreshnessAlertKind; sent: boolean; note: string }[];
}

/**
 * Started by the `freshline/monitor/freshness` schedule (every monitors.freshness.every, default 5m).
 * Each dataset's certified watermark (newest window end of a published run) is compared with its
 * freshnessSla; a breach alerts once, its recovery once — the per-dataset state lives in
 * audit.freshness_alerts because every monitor run is a new workflow. Missed windows (no published run,
 * e.g. beyond the schedule's catch-up window) are listed per dataset and in the breach alert.
 */
export async function freshnessMonitor(): Promise<FreshnessReport> {
  const { checkedAt, datasets, due } = await check.checkFreshness();
  const alerts: FreshnessReport['alerts'] = [];
  for (const facts of due) {
    try {
      alerts.push({ dataset: facts.dataset, kind: facts.kind, ...(await notify.freshnessAlert(facts)) });
    } catch (err) {
      alerts.push({
        dataset: facts.dataset,
        kind: facts.kind,
        sent: false,
        note: `not delivered, the next monitor run tries again: ${((err as Error).cause as Error | undefined)?.message ?? (err as Error).message}`,
      });
    }
  }
  return { checkedAt, datasets, alerts };
}
