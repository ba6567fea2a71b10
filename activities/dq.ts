import { getDataset } from '../config/load';
import type { ActivityDeps } from './deps';
import { certifiedWatermark } from './warehouse/audit/freshness';
import { refreshDatasetHealth } from './warehouse/audit/health';
import { openQuarantine, releaseQuarantine, type ReleaseRequest } from './warehouse/quality/quarantine';
import type { Row } from './warehouse/warehouse';

/** What `freshline dq report` prints. */
export interface DqReport {
  /** audit.dataset_health rows. */
  health: Row[];
  /** Check results since `since`, newest first. */
  results: Row[];
  /** Unreleased quarantined rows per model. */
  quarantine: { model: string; rows: number }[];
}

/** Creates the data-quality operator activities (reports and quarantine release). */
export function createDqActivities(deps: ActivityDeps) {
  return {
    /** Recent check results, dataset health and quarantine counts (small: aggregates and at most 500 results). */
    async dqReport(input: { dataset?: string; since: string }): Promise<DqReport> {
      const datasets = input.dataset ? [getDataset(deps.config, input.dataset)] : deps.config.datasets;
      for (const ds of datasets) await refreshDatasetHealth(deps.warehouse, ds);
      const names = datasets.map((d) => d.name);
      const placeholders = (from: number) => names.map((_, i) => `$${i + from}`).join(', ');
      const health = await deps.warehouse.query(
        `SELECT dataset, last_run_status, last_good_publish_at::VARCHAR AS last_good_publish_at, minutes_behind, sla_minutes, is_fresh,
                open_critical_failures, failing_checks, quarantined_rows FROM audit.dataset_health WHERE dataset IN (${placeholders(1)}) ORDER BY dataset`,
        names,
      );
      const results = await deps.warehouse.query(
        `SELECT checked_at::VARCHAR AS checked_at, dataset, workflow_id, gate_attempt, check_name, check_type, model, severity, status,
                failing_rows, quarantined_rows, detail
           FROM audit.dq_results WHERE checked_at >= $1::TIMESTAMPTZ AND dataset IN (${placeholders(2)}) ORDER BY checked_at DESC, check_name LIMIT 500`,
        [input.since, ...names],
      );
      return { health, results, quarantine: await openQuarantine(deps.warehouse) };
    },

    /** True once `dataset` has published a window ending at or after `through` (what a dependent run waits for). */
    async upstreamPublished(input: {
      dataset: string;
      through: string;
    }): Promise<{ published: boolean; through: string | null }> {
      // Capped at each run's finish: a run stored with a future window_end releases nobody ahead of time.
      const through = await certifiedWatermark(deps.warehouse, input.dataset);
      return { published: through !== null && Date.parse(through) >= Date.parse(input.through), through };
    },

    /** Releases quarantined rows of one check after an operator's review (who and why are stored on the rows). */
    async releaseQuarantine(input: ReleaseRequest & { dataset: string }): Promise<{ released: number }> {
      const released = await releaseQuarantine(deps.warehouse, input);
      await refreshDatasetHealth(deps.warehouse, getDataset(deps.config, input.dataset));
      return { released };
    },
  };
}
