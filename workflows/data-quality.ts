import { ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { DqReport } from '../activities/dq';
import { DqReportInputSchema, parseInput, ReleaseQuarantineInputSchema } from './input';

const quick = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  retry: { initialInterval: '1s', maximumAttempts: 3, nonRetryableErrorTypes: ['ConfigError'] },
});

/** Recent check results, dataset health and quarantine counts, read by the worker that owns the warehouse. */
export async function dqReport(input: unknown): Promise<DqReport> {
  const parsed = parseInput('dqReport', DqReportInputSchema, input);
  if (!parsed.ok) throw ApplicationFailure.nonRetryable(parsed.message, 'InvalidInput');
  return quick.dqReport(parsed.value);
}

/**
 * Releases one check's quarantined rows after review; the next run publishes rows with that content.
 * Its own workflow so the release (who, why, when) is in Temporal's history as well as on the rows.
 */
export async function releaseQuarantine(input: unknown): Promise<{ released: number }> {
  const parsed = parseInput('releaseQuarantine', ReleaseQuarantineInputSchema, input);
  if (!parsed.ok) throw ApplicationFailure.nonRetryable(parsed.message, 'InvalidInput');
  return quick.releaseQuarantine(parsed.value);
}
