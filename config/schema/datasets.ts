import { z } from 'zod';
import { TableauTargetSchema } from './bi';
import { CheckSchema } from './checks';
import { duration, identifier } from './common';
import { DatasetScheduleSchema } from './schedules';
import { SourceTableSchema } from './sources';

/** A dataset: the unit a pipelineRun processes for one window. */
export const DatasetSchema = z.object({
  /** Dataset name; part of every workflow id (`<dataset>/window/<start>`). */
  name: identifier,
  /** How often the schedule fires; each run owns the window [fire - cadence, fire). */
  cadence: duration,
  /** Maximum age of certified data before an alert (source change → dashboard). */
  freshnessSla: duration,
  /** Overlap re-read before each window's start, absorbing clock skew and late commits. */
  lookback: duration.default('5m'),
  /** Name of the source in `sources`. */
  source: identifier,
  /** Tables extracted each window. */
  tables: z.array(SourceTableSchema).min(1),
  /** Mart models to build (their upstream models are built too) and publish as certified tables. */
  publish: z.array(identifier).min(1),
  /** Quality checks gating publish. */
  checks: z.array(CheckSchema).default([]),
  /**
   * Datasets whose publish this one needs (e.g. finance marts read sales_core's): a run waits, durably,
   * until each has published a window ending at or after its own window's end, at most `timeout`.
   */
  dependsOn: z.array(z.object({ dataset: identifier, timeout: duration.default('2h') })).default([]),
  gate: z
    .object({
      /** How long a blocked run waits for retryGate/skipGate before failing. */
      timeout: duration.default('4h'),
    })
    .default({ timeout: '4h' }),
  /** Where a blocked gate, a gate timeout or a missed SLA is announced; without it alerts are only logged and audited. */
  alerts: z
    .object({
      /** Secret holding a Slack-compatible incoming-webhook URL (the URL is a credential). */
      webhookSecret: z.string().min(1).optional(),
    })
    .default({}),
  /** BI extracts refreshed after publish; none means the refresh step is recorded as skipped. */
  bi: z
    .object({
      /** How long a run whose BI refresh failed (state refresh_failed) waits for a retryRefresh signal before failing. */
      failedRefreshTimeout: duration.default('24h'),
      /** Tableau Cloud or Server extracts to refresh (REST API, personal access token). */
      tableau: TableauTargetSchema.optional(),
    })
    .default({ failedRefreshTimeout: '24h' }),
  /** How the dataset's Temporal Schedule (`freshline/<dataset>`) fires; `freshline schedules apply` applies it. */
  schedule: DatasetScheduleSchema.default({ catchupWindow: '1h', paused: false }),
});

export type DatasetConfig = z.infer<typeof DatasetSchema>;
