import { ApplicationFailure, condition, patched, setHandler } from '@temporalio/workflow';
import type { GateOutcome } from '../activities/quality';
import { GateDecisionSchema, payloadIssues, type GateDecisionInput } from './input';
import {
  retryGateSignal,
  retryGateUpdate,
  skipGateSignal,
  skipGateUpdate,
  type DecisionAnswer,
  type DecisionVia,
  type GateDecision,
} from './messages';
import { stateInWords, sum, type RunState } from './run-state';

// Patches for runs already in flight (their histories replay on the old path):
// - a second decision while one is pending is ignored (before, it replaced the first, which was then never audited);
const FIRST_DECISION_WINS = 'gate-first-decision-wins';
// - a decision that arrives while the run tells its backfill it blocked is kept (before, it was cleared afterwards).
const DECISION_KEPT_WHILE_REPORTING = 'gate-decision-kept-while-reporting';

/**
 * Listens for retryGate/skipGate, as signals and as updates with the same names. A valid decision received while
 * blocked is kept for the gate loop and audited alike (with `via`); an invalid or mistimed signal is listed in
 * status.ignoredSignals, an invalid or mistimed update is rejected by its validator (the caller gets why).
 */
export function registerGateHandlers(state: RunState): void {
  const onSignal = (kind: GateDecision['kind']) => (payload: unknown) => {
    const d = GateDecisionSchema.safeParse(payload);
    const pending = state.pendingGate;
    if (!d.success) state.ignore(`${kind}Gate: invalid payload (${payloadIssues(d.error)})`);
    else if (state.status.state !== 'blocked')
      state.ignore(`${kind}Gate by ${d.data.by}: run was ${state.status.state}, not blocked`);
    else if (pending && patched(FIRST_DECISION_WINS))
      state.ignore(`${kind}Gate by ${d.data.by}: ${pending.kind} by ${pending.by} was already pending`);
    else state.pendingGate = decide(kind, d.data, 'signal');
  };
  setHandler(retryGateSignal, onSignal('retry'));
  setHandler(skipGateSignal, onSignal('skip'));

  // Validators only read: they run before the update is accepted (never on replay), so they must not change state.
  const validator = (kind: GateDecision['kind']) => (payload: unknown) => {
    const d = GateDecisionSchema.safeParse(payload);
    if (!d.success) throw new Error(`invalid ${kind}Gate payload: ${payloadIssues(d.error)}`);
    if (state.status.state !== 'blocked') throw new Error(`run is ${stateInWords(state.status.state)}, not blocked`);
    const pending = state.pendingGate;
    if (pending) throw new Error(`run is blocked, but ${pending.kind} by ${pending.by} is already pending`);
  };
  // Answered once recorded: the run acts on it in the same workflow task (the status query shows the outcome).
  const handler =
    (kind: GateDecision['kind']) =>
    (payload: GateDecisionInput): DecisionAnswer<GateDecision> => {
      const decision = decide(kind, GateDecisionSchema.parse(payload), 'update');
      state.pendingGate = decision;
      return { accepted: true, decision };
    };
  setHandler(retryGateUpdate, handler('retry'), { validator: validator('retry') });
  setHandler(skipGateUpdate, handler('skip'), { validator: validator('skip') });
}

function decide(
  kind: GateDecision['kind'],
  d: { by: string; reason: string; from?: GateDecision['from'] },
  via: DecisionVia,
): GateDecision {
  return { kind, ...d, at: new Date().toISOString(), via };
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
    const keep = patched(DECISION_KEPT_WHILE_REPORTING);
    if (keep) state.pendingGate = null;
    status.state = 'blocked';
    await deps.tellParent('blocked');
    if (!keep) state.pendingGate = null;
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
