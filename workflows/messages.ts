import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { GateDecisionInput } from './input';

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
}

/** What the `status` query returns. */
export interface RunStatus {
  dataset: string;
  window: { start: string; end: string };
  state: 'running' | 'blocked' | 'succeeded' | 'published_with_errors' | 'published_partial' | 'published_skipped_gate' | 'failed';
  currentStep: string | null;
  steps: Record<string, StepRecord>;
  gate: { attempt: number; critical: string[]; errors: string[]; warnings: string[]; checks: number } | null;
  decisions: GateDecision[];
  /** Source schema changes seen this run; breaking ones not accepted hold the marts that read them. */
  drift: { table: string; summary: string; breaking: boolean; accepted: boolean }[];
  /** Certified tables not published this run, and why (their last certified version stays). */
  held: { table: string; reason: string }[];
  /** Alerts this run sent (or could not send): blocked gate, gate timeout. */
  alerts: { kind: string; sent: boolean; note: string }[];
  /** Signals that were not acted on (wrong state or invalid payload), with why. */
  ignoredSignals: string[];
  error: string | null;
}

/** Re-run the blocked gate (optionally from transform or extract) after a fix. */
export const retryGateSignal = defineSignal<[GateDecisionInput]>('retryGate');
/** Publish despite the blocked gate; flagged and audited. */
export const skipGateSignal = defineSignal<[GateDecisionInput]>('skipGate');
/** Current step and every completed step's result. */
export const statusQuery = defineQuery<RunStatus>('status');
