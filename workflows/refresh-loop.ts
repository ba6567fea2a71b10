import { ApplicationFailure, condition, setHandler } from '@temporalio/workflow';
import type { RefreshResult } from '../activities/refresh';
import { RefreshRetrySchema } from './input';
import { retryRefreshSignal, type RefreshAttempt } from './messages';
import { sum, type RunState } from './run-state';

/** What the refresh loop needs from the run. */
export interface RefreshLoopDeps {
  state: RunState;
  /** Runs the refresh activity for one round. */
  refresh: (round: number) => Promise<RefreshResult>;
  tellParent: (state: string) => Promise<void>;
  /** How long a failed refresh waits for retryRefresh. */
  waitMs: number;
}

/**
 * The BI refresh step: a failure left after the activity's own retries does not fail the run at once. The run
 * waits in refresh_failed for an operator's retryRefresh {by, reason} (waitMs), then re-runs this step only;
 * certified tables are already published.
 */
export async function runRefreshLoop(deps: RefreshLoopDeps): Promise<void> {
  const { state } = deps;
  const { status } = state;
  const refreshAttempts: RefreshAttempt[] = [];
  status.refresh = { attempts: refreshAttempts };
  setHandler(retryRefreshSignal, (payload: unknown) => {
    const d = RefreshRetrySchema.safeParse(payload);
    if (!d.success)
      state.ignore(
        `retryRefresh: invalid payload (${d.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')})`,
      );
    else if (status.state !== 'refresh_failed')
      state.ignore(`retryRefresh by ${d.data.by}: run was ${status.state}, not refresh_failed`);
    else state.pendingRefresh = { ...d.data, at: new Date().toISOString() };
  });
  for (let round = 1; ; round++) {
    const attempt: RefreshAttempt = {
      round,
      startedAt: new Date().toISOString(),
      outcome: 'running',
      ...(state.pendingRefresh ? { requested: state.pendingRefresh } : {}),
    };
    refreshAttempts.push(attempt);
    try {
      const r = await state.step(
        'refresh',
        // The activity failure's cause says why (it names the Tableau object); "Activity task failed" does not.
        () =>
          deps.refresh(round).catch((err: unknown) => {
            throw (err as { cause?: Error }).cause ?? err;
          }),
        (r) => ({
          items: r.items?.length ?? 0,
          jobs: sum(r.items ?? [], (i) => i.jobs),
          joined: (r.items ?? []).filter((i) => i.joined).length,
        }),
        (r) => `${r.status}: ${r.reason}`,
      );
      attempt.outcome = r.status === 'skipped' ? 'skipped' : 'succeeded';
      attempt.detail = r.reason;
      return;
    } catch (err) {
      attempt.outcome = 'failed';
      attempt.detail = (err as Error).message;
      status.state = 'refresh_failed';
      await deps.tellParent('refresh_failed');
      state.pendingRefresh = null;
      if (!(await condition(() => state.pendingRefresh !== null, deps.waitMs))) {
        throw ApplicationFailure.nonRetryable(
          `BI refresh failed (${attempt.detail}); no retryRefresh within ${deps.waitMs / 1000}s — certified tables are published, dashboards keep their previous extracts`,
          'RefreshTimeout',
        );
      }
      status.state = 'running';
    }
  }
}
