import { ApplicationFailure, condition, patched, setHandler } from '@temporalio/workflow';
import type { RefreshResult } from '../activities/refresh';
import { payloadIssues, RefreshRetrySchema, type RefreshRetryInput } from './input';
import { retryRefreshSignal, retryRefreshUpdate, type DecisionAnswer, type RefreshAttempt } from './messages';
import { stateInWords, sum, type RunState } from './run-state';

// Patches for runs in flight, as in gate-loop.ts: a second retryRefresh while one is pending is ignored, and one
// arriving while the run tells its backfill it failed is kept.
const FIRST_REQUEST_WINS = 'refresh-first-request-wins';
const REQUEST_KEPT_WHILE_REPORTING = 'refresh-request-kept-while-reporting';

/**
 * retryRefresh as an update, registered when the run starts so a mistimed one is rejected naming the run's state
 * (an update without a handler would only be told "No registered handler").
 */
export function registerRefreshUpdate(state: RunState): void {
  setHandler(
    retryRefreshUpdate,
    (payload: RefreshRetryInput): DecisionAnswer<NonNullable<RefreshAttempt['requested']>> => {
      // Answered once recorded: the refresh round it starts follows in the same workflow task.
      const decision = { ...RefreshRetrySchema.parse(payload), at: new Date().toISOString(), via: 'update' as const };
      state.pendingRefresh = decision;
      return { accepted: true, decision };
    },
    {
      validator: (payload: unknown) => {
        const d = RefreshRetrySchema.safeParse(payload);
        if (!d.success) throw new Error(`invalid retryRefresh payload: ${payloadIssues(d.error)}`);
        if (state.status.state !== 'refresh_failed')
          throw new Error(`run is ${stateInWords(state.status.state)}, not refresh_failed`);
        const pending = state.pendingRefresh;
        if (pending) throw new Error(`run is in refresh_failed, but retryRefresh by ${pending.by} is already pending`);
      },
    },
  );
}

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
  // Registered only now, as before updates existed: a retryRefresh signal sent earlier waits in Temporal's buffer
  // until here, then is listed as ignored (the run is running, not refresh_failed).
  setHandler(retryRefreshSignal, (payload: unknown) => {
    const d = RefreshRetrySchema.safeParse(payload);
    const pending = state.pendingRefresh;
    if (!d.success) state.ignore(`retryRefresh: invalid payload (${payloadIssues(d.error)})`);
    else if (status.state !== 'refresh_failed')
      state.ignore(`retryRefresh by ${d.data.by}: run was ${status.state}, not refresh_failed`);
    else if (pending && patched(FIRST_REQUEST_WINS))
      state.ignore(`retryRefresh by ${d.data.by}: retryRefresh by ${pending.by} was already pending`);
    else state.pendingRefresh = { ...d.data, at: new Date().toISOString(), via: 'signal' };
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
      const keep = patched(REQUEST_KEPT_WHILE_REPORTING);
      if (keep) state.pendingRefresh = null;
      status.state = 'refresh_failed';
      await deps.tellParent('refresh_failed');
      if (!keep) state.pendingRefresh = null;
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
