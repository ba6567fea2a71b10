import { ApplicationFailure, condition, setHandler } from '@temporalio/workflow';
import type { GateOutcome } from '../activities/quality';
import { GateDecisionSchema } from './input';
import { retryGateSignal, skipGateSignal, type GateDecision } from './messages';
import { sum, type RunState } from './run-state';

/** Listens for retryGate/skipGate signals; only a valid one received while blocked is kept, the rest are listed as ignored. */
export function registerGateHandlers(state: RunState): void {
  const onDecision = (kind: GateDecision['kind']) => (payload: unknown) => {
    const d = GateDecisionSchema.safeParse(payload);
    if (!d.success)
      state.ignore(
        `${kind}Gate: invalid payload (${d.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')})`,
      );
    else if (state.status.state !== 'blocked')
      state.ignore(`${kind}Gate by ${d.data.by}: run was ${state.status.state}, not blocked`);
    else state.pendingGate = { kind, ...d.data, at: new Date().toISOString() };
  };
  setHandler(retryGateSignal, onDecision('retry'));
  setHandler(skipGateSignal, onDecision('skip'));
}

/** What the gate loop needs from the run: its activities and the steps a retry may redo. */
export interface GateLoopDeps {
  state: RunState;
  /** Runs the gate activity for one attempt (called inside the step, so counts and drift are current). */
  gate: (attempt: number) => Promise<GateOutcome>;
  alert: (kind: 'gate_blocked' | 'gate_timeout', checks: string[], detail: string) => Promise<void>;
  /** Tells a backfill waiting on this run that it blocked or resumed. */
  tellParent: (state: string) => Promise<void>;
  gateTimeoutMs: number;
  extractAndLoad: () => Promise<void>;
  transform: () => Promise<unknown>;
}

/**
 * Runs the quality gate until it passes or an operator skips it: a critical failure alerts, blocks and waits
 * (gateTimeoutMs) for retryGate (optionally redoing transform or extract first) or skipGate.
 */
export async function runGateLoop(deps: GateLoopDeps): Promise<{ skipped: boolean }> {
  const { state } = deps;
  const { status } = state;
  for (let attempt = 1; ; attempt++) {
    const outcome: GateOutcome = await state.step(
      'gate',
      () => deps.gate(attempt),
      (g) => ({
        checks: g.results.length,
        critical: g.critical.length,
        errors: g.errors.length,
        warnings: g.warnings.length,
        quarantined: sum(g.results, (r) => r.quarantinedRows),
      }),
      (g) =>
        g.results
          .filter((r) => r.status === 'fail')
          .map((r) => `${r.check} (${r.severity}): ${r.detail}`)
          .join('; ') || 'all checks passed',
    );
    status.gate = {
      attempt,
      critical: outcome.critical,
      errors: outcome.errors,
      warnings: outcome.warnings,
      checks: outcome.results.length,
    };
    if (outcome.critical.length === 0) return { skipped: false };

    // The alert goes out first: an operator who sees `blocked` in the status also sees whether it was sent.
    const failing = outcome.results
      .filter((r) => r.status === 'fail' && r.severity === 'critical')
      .map((r) => `${r.check}: ${r.detail}`)
      .join('; ');
    await deps.alert('gate_blocked', outcome.critical, failing);
    status.state = 'blocked';
    await deps.tellParent('blocked');
    state.pendingGate = null;
    const decided = await condition(() => state.pendingGate !== null, deps.gateTimeoutMs);
    if (!decided) {
      await deps.alert('gate_timeout', outcome.critical, failing);
      throw ApplicationFailure.nonRetryable(
        `quality gate blocked by ${outcome.critical.join(', ')}; no retryGate/skipGate within ${deps.gateTimeoutMs / 1000}s — certified tables left unchanged`,
        'GateTimeout',
      );
    }
    const decision = state.pendingGate as unknown as GateDecision;
    status.decisions.push(decision);
    status.state = 'running';
    await deps.tellParent('running');
    if (decision.kind === 'skip') return { skipped: true };
    if (decision.from === 'extract') await deps.extractAndLoad();
    if (decision.from === 'extract' || decision.from === 'transform') await deps.transform();
  }
}
