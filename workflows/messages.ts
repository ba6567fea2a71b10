import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { GateDecisionInput, RefreshRetryInput } from './input';

/** One step's record in the run status. */
export interface StepRecord {
  status: 'running' | 'completed' | 'failed' | 'skipped';
  startedAt: string;
  ms?: number;
  /** Small counts only (rows, tables, files): never row data. */
  counts?: Record<string, number>;
  detail?: string;
}

/** An operator's decision on a blocked gate, as audited. */
export interface GateDecision {
  kind: 'retry' | 'skip';
  by: string;
  reason: string;
  from?: 'gate' | 'transform' | 'extract';
  at: string;
  /** How it arrived; decisions recorded before updates existed have none. */
  via?: DecisionVia;
}

/** A decision arrives as a signal (UI, `temporal workflow signal`: never answered) or an update (validated, answered). */
export type DecisionVia = 'signal' | 'update';

/** What an accepted gate or refresh update returns: the decision as recorded (acted on by the run right after). */
export interface DecisionAnswer<D> {
  accepted: true;
  decision: D;
}

/** One round of the BI refresh step: the first, then one per retryRefresh. */
export interface RefreshAttempt {
  round: number;
  startedAt: string;
  outcome: 'running' | 'succeeded' | 'skipped' | 'failed';
  /** Why it failed (names the Tableau object), or what it refreshed. */
  detail?: string;
  /** The retryRefresh that started this round (rounds after the first). */
  requested?: { by: string; reason: string; at: string; via?: DecisionVia };
}

/** What the `status` query returns. */
export interface RunStatus {
  dataset: string;
  window: { start: string; end: string };
  state:
    | 'running'
    | 'waiting_upstream'
    | 'blocked'
    | 'refresh_failed'
    | 'loaded'
    | 'succeeded'
    | 'published_with_errors'
    | 'published_partial'
    | 'published_skipped_gate'
    | 'failed';
  currentStep: string | null;
  steps: Record<string, StepRecord>;
  gate: { attempt: number; critical: string[]; errors: string[]; warnings: string[]; checks: number } | null;
  decisions: GateDecision[];
  /** Source schema changes seen this run; breaking ones not accepted hold the marts that read them. */
  drift: {
    table: string;
    summary: string;
    breaking: boolean;
    accepted: boolean;
    /** New columns of a PII/PCI table held until config lists them (absent: none). */
    held?: string[];
  }[];
  /** Certified tables not published this run, and why (their last certified version stays). */
  held: { table: string; reason: string }[];
  /** Alerts this run sent (or could not send): blocked gate, gate timeout. */
  alerts: { kind: string; sent: boolean; note: string }[];
  /** The BI refresh step's rounds (a failed one waits in refresh_failed for retryRefresh); absent until refresh starts. */
  refresh?: { attempts: RefreshAttempt[] };
  /** Signals that were not acted on (wrong state or invalid payload), with why. */
  ignoredSignals: string[];
  error: string | null;
}

/** Re-run the blocked gate (optionally from transform or extract) after a fix. */
export const retryGateSignal = defineSignal<[GateDecisionInput]>('retryGate');
/** Publish despite the blocked gate; flagged and audited. */
export const skipGateSignal = defineSignal<[GateDecisionInput]>('skipGate');
/** Run the failed BI refresh step again (run state refresh_failed); nothing before it is redone. */
export const retryRefreshSignal = defineSignal<[RefreshRetryInput]>('retryRefresh');
/** Current step and every completed step's result. */
export const statusQuery = defineQuery<RunStatus>('status');

// Updates with the signals' names: Temporal keeps signal and update handlers apart, so `temporal workflow signal
// --name skipGate` and `temporal workflow update execute --name skipGate` both work. An update is validated before it
// is accepted: a rejected one never reaches history and its caller gets the validator's message.

/** retryGate as an update: rejected (naming the field or the run's state) unless valid and the run is blocked. */
export const retryGateUpdate = defineUpdate<DecisionAnswer<GateDecision>, [GateDecisionInput]>('retryGate');
/** skipGate as an update: rejected (naming the field or the run's state) unless valid and the run is blocked. */
export const skipGateUpdate = defineUpdate<DecisionAnswer<GateDecision>, [GateDecisionInput]>('skipGate');
/** retryRefresh as an update: rejected unless valid and the run is in refresh_failed. */
export const retryRefreshUpdate = defineUpdate<
  DecisionAnswer<NonNullable<RefreshAttempt['requested']>>,
  [RefreshRetryInput]
>('retryRefresh');
