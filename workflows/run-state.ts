import type { GateDecision, RefreshAttempt, RunStatus, StepRecord } from './messages';

/**
 * The state of one pipelineRun: the status the `status` query returns, the operator decisions waiting to be
 * acted on, and the step recorder. Workflow code only: no Node built-ins, no activity code.
 */
export class RunState {
  readonly status: RunStatus;
  /** When the run started (workflow time), for the audit row. */
  readonly startedAt = new Date().toISOString();
  /** A retryGate/skipGate received while blocked, not yet acted on. */
  pendingGate: GateDecision | null = null;
  /** A retryRefresh received in refresh_failed, not yet acted on. */
  pendingRefresh: RefreshAttempt['requested'] | null = null;

  constructor(io: { dataset: string; window: { start: string; end: string } }) {
    this.status = {
      ...io,
      state: 'running',
      currentStep: null,
      steps: {},
      gate: null,
      decisions: [],
      alerts: [],
      drift: [],
      held: [],
      ignoredSignals: [],
      error: null,
    };
  }

  /** Notes a signal that was not acted on (invalid payload, wrong state), so the status query shows why. */
  ignore(message: string): void {
    this.status.ignoredSignals.push(message);
  }

  /** Runs one step, recording it as running, then completed with its counts, or failed with the reason. */
  async step<T>(
    name: string,
    fn: () => Promise<T>,
    counts: (r: T) => Record<string, number>,
    detail?: (r: T) => string,
  ): Promise<T> {
    const t0 = Date.now();
    const { status } = this;
    status.currentStep = name;
    status.steps[name] = { status: 'running', startedAt: new Date(t0).toISOString() };
    try {
      const result = await fn();
      status.steps[name] = {
        status: 'completed',
        startedAt: new Date(t0).toISOString(),
        ms: Date.now() - t0,
        counts: counts(result),
        detail: detail?.(result),
      } satisfies StepRecord;
      return result;
    } catch (err) {
      status.steps[name] = {
        status: 'failed',
        startedAt: new Date(t0).toISOString(),
        ms: Date.now() - t0,
        detail: failureReason(err),
      };
      throw err;
    }
  }
}

/** Why a step failed: an ActivityFailure says only "Activity task failed"; its cause names the error (e.g. EACCES on the stage). */
export function failureReason(err: unknown): string {
  return (err as { cause?: Error }).cause?.message ?? (err as Error).message;
}

const STATE_WORDS: Record<RunStatus['state'], string> = {
  running: 'running',
  waiting_upstream: 'waiting for its upstream dataset',
  blocked: 'blocked at the quality gate',
  refresh_failed: 'waiting for retryRefresh after a failed BI refresh',
  loaded: 'loaded (a backfill partition)',
  succeeded: 'published',
  published_with_errors: 'published with errors',
  published_partial: 'published partially',
  published_skipped_gate: 'published (gate skipped)',
  failed: 'failed',
};

/** A run state as an operator reads it in a rejection ("run is published, not blocked"). */
export function stateInWords(state: RunStatus['state']): string {
  return STATE_WORDS[state];
}

/** Sums `f` over `xs` (step counts). */
export const sum = <T>(xs: T[], f: (x: T) => number): number => xs.reduce((s, x) => s + f(x), 0);
