import { z } from 'zod';
import { isDuration, parseDuration } from '../duration';
import { duration } from './common';

/** Temporal's smallest catch-up window; shorter values are refused by the server. */
const MIN_CATCHUP_MS = 10_000;

/** A dataset's schedule settings (all optional). */
export const DatasetScheduleSchema = z.object({
  /**
   * How late a firing may still run after the Temporal service (or every worker's connection to it) was
   * down: windows whose nominal time is older than this when Temporal comes back are skipped, reported
   * by the freshness monitor as missed windows, and filled by the nightly reconciliation or a catch-up.
   */
  catchupWindow: duration
    .refine(
      (d) => !isDuration(d) || parseDuration(d) >= MIN_CATCHUP_MS,
      "must be at least 10s (Temporal's minimum catch-up window)",
    )
    .default('1h'),
  /**
   * true: the dataset's schedules (window and reconciliation) are created or kept paused by
   * `schedules apply`. An operator's `schedules pause` is not undone by apply; only a pause set here is.
   */
  paused: z.boolean().default(false),
});

/** Nightly by default: minute hour day-of-month month day-of-week, in UTC. */
export const DEFAULT_RECONCILIATION_CRON = '0 2 * * *';

const cronField = /^(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(\/\d+)?(,(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(\/\d+)?)*$/;
/** A 5-field cron expression evaluated in UTC, or one of @hourly @daily @weekly @monthly @yearly. */
const cron = z.string().refine(
  (s) =>
    /^@(hourly|daily|weekly|monthly|yearly)$/.test(s.trim()) ||
    (s.trim().split(/\s+/).length === 5 &&
      s
        .trim()
        .split(/\s+/)
        .every((f) => cronField.test(f))),
  "must be a 5-field cron expression in UTC such as '0 2 * * *' (minute hour day-of-month month day-of-week)",
);

/**
 * The nightly reconciliation: one schedule per dataset (`freshline/<dataset>/reconcile`) that reloads
 * the last `days` days by business-date partition, absorbing late corrections and any window the
 * regular schedule missed.
 */
export const ReconciliationSchema = z
  .object({
    /** When it fires, as a cron expression in UTC (default '0 2 * * *': nightly at 02:00 UTC). Give cron or every, not both. */
    cron: cron.optional(),
    /** Or a fixed interval instead of cron, e.g. 12h. */
    every: duration.optional(),
    /** How many days back from the firing time each reconciliation reloads. */
    days: z.number().int().min(1, 'must be at least 1 (day)').max(366, 'must be at most 366 (days)').default(7),
  })
  .superRefine((r, ctx) => {
    if (r.cron !== undefined && r.every !== undefined)
      ctx.addIssue({ code: 'custom', path: ['every'], message: 'give cron or every, not both' });
  });

/** Monitors that run on their own schedules, across datasets. */
export const MonitorsSchema = z.object({
  /**
   * The freshness monitor (`freshline/monitor/freshness`): compares each dataset's certified watermark
   * (newest window end of a published run) with its freshnessSla; alerts once per breach and once on recovery.
   */
  freshness: z
    .object({
      /** How often it runs. */
      every: duration.default('5m'),
    })
    .default({ every: '5m' }),
});
