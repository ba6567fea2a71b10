import {
  ApplicationFailure,
  getExternalWorkflowHandle,
  proxyActivities,
  setHandler,
  sleep,
  workflowInfo,
  type RetryPolicy,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { Manifest } from '../activities/sources/postgres/manifest';
import type { LoadResult } from '../activities/warehouse/load';
import type { TableCounts } from '../activities/warehouse/quality/checks';
import { parseDuration } from '../config/duration';
import { notifyOnFinishSignal, partitionDoneSignal, partitionStateSignal } from './backfill-messages';
import { registerGateHandlers, runGateLoop } from './gate-loop';
import { parsePipelineInput, type PipelineRunInput } from './input';
import { statusQuery, type RunStatus, type StepRecord } from './messages';
import { registerRefreshUpdate, runRefreshLoop } from './refresh-loop';
import { failureReason, RunState, sum } from './run-state';

const retry: RetryPolicy = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '1m',
  maximumAttempts: 5,
  nonRetryableErrorTypes: ['ConfigError'],
};
const quick = proxyActivities<Activities>({ startToCloseTimeout: '1m', retry });
const heavy = proxyActivities<Activities>({ startToCloseTimeout: '30m', heartbeatTimeout: '2m', retry });
const bi = proxyActivities<Activities>({ startToCloseTimeout: '2h', heartbeatTimeout: '2m', retry });
// An alert that cannot be delivered must not fail the run: a few tries, then the status says so.
const notify = proxyActivities<Activities>({ startToCloseTimeout: '30s', retry: { ...retry, maximumAttempts: 3 } });

/** What a finished run returns (also visible in the Temporal UI). */
export interface RunSummary {
  workflowId: string;
  status: RunStatus['state'];
  steps: Record<string, StepRecord>;
  gate: RunStatus['gate'];
  drift: RunStatus['drift'];
  held: RunStatus['held'];
  alerts: RunStatus['alerts'];
}

/**
 * One dataset window: extract → load → transform → gate → publish → refresh → audit. Each step is an
 * activity; if one fails, Temporal retries it and the run resumes there without redoing earlier steps.
 */
export async function pipelineRun(rawInput: PipelineRunInput): Promise<RunSummary> {
  const parsed = parsePipelineInput(rawInput);
  if (!parsed.ok) throw ApplicationFailure.nonRetryable(parsed.message, 'InvalidInput');
  const input = parsed.value;
  const io = { dataset: input.dataset, window: input.window };
  const state = new RunState(io);
  const { status } = state;
  setHandler(statusQuery, () => status);
  const waiters = new Set<string>();
  setHandler(notifyOnFinishSignal, ({ workflowId }) => void waiters.add(workflowId));
  registerGateHandlers(state);
  registerRefreshUpdate(state);

  let manifests: Manifest[] = [];
  let loads: LoadResult[] = [];
  const extractAndLoad = async () => {
    let cdcEnd: string | null = null;
    let slotWalBytes: number | null = null;
    manifests = await state.step(
      'extract',
      async () => {
        const [extracted, captured] = await Promise.all([
          Promise.all(
            plan.tables.map((table) =>
              extractor.extract({
                ...io,
                table,
                acceptDrift: input.acceptDrift?.includes(table) ?? false,
                reload: input.mode === 'reload',
              }),
            ),
          ),
          plan.cdcTables.length ? extractor.captureCdc(io) : Promise.resolve(null),
        ]);
        cdcEnd = captured?.endLsn ?? null;
        slotWalBytes = captured?.retainedWalBytes ?? null;
        return [...extracted, ...(captured?.manifests ?? [])];
      },
      (ms) => ({
        tables: ms.length,
        rows: sum(ms, (m) => m.rows),
        sourceRows: sum(ms, (m) => m.sourceRows),
        rejected: sum(ms, (m) => m.rejectedRows ?? 0),
        bytes: sum(ms, (m) => m.bytes),
        ...(slotWalBytes === null ? {} : { slotRetainedWalBytes: slotWalBytes }),
      }),
      (ms) =>
        ms
          .map(
            (m) =>
              `${m.table}${m.mode === 'cdc' ? '(cdc)' : ''}=${m.rows}${m.rejectedRows ? ` (${m.rejectedRows} rejected: audit.source_rejects)` : ''}`,
          )
          .join(' '),
    );
    loads = await state.step(
      'load',
      () => Promise.all(manifests.map((manifest) => heavy.load({ ...io, manifest }))),
      (ls) => ({
        tables: ls.length,
        rowsLoaded: sum(ls, (l) => l.rowsLoaded),
        rowsReplaced: sum(ls, (l) => l.rowsReplaced),
        tombstones: sum(ls, (l) => l.tombstones),
        skipped: ls.filter((l) => l.skipped).length,
      }),
      (ls) =>
        ls
          .filter((l) => l.skipped || l.evolved.length)
          .map((l) => `${l.table}: ${l.skipped ?? `evolved ${l.evolved.join(', ')}`}`)
          .join('; '),
    );
    // The slot moves only now that the captured changes are in raw: a crash before this re-delivers them.
    const lsn = cdcEnd as string | null;
    if (lsn)
      await state.step(
        'confirm',
        () => quick.confirmCdc({ ...io, lsn }),
        () => ({}),
        () => `slot confirmed to ${lsn}`,
      );
    status.drift = manifests.flatMap((m) =>
      m.drift
        ? [
            {
              table: m.table,
              summary: m.drift.summary,
              breaking: m.drift.breaking,
              accepted: m.drift.breaking && !m.blocked,
              ...(m.drift.held?.length ? { held: m.drift.held } : {}),
            },
          ]
        : [],
    );
  };
  const transform = () =>
    state.step(
      'transform',
      () => heavy.transform(input.fullRefresh ? { ...io, fullRefresh: true } : io),
      (r) => ({ models: r.models.length, rows: sum(r.models, (m) => m.rows) }),
      (r) => r.models.map((m) => `${m.model}=${m.rows}${modelChanges(m)}`).join(' '),
    );
  const counts = (): TableCounts[] =>
    // loads[i] is manifests[i]'s load (a cdc table can have two: its first snapshot and its changes).
    manifests.map((m, i) => ({
      table: m.table,
      sourceRows: m.sourceRows,
      stagedRows: m.rows,
      rejectedRows: m.rejectedRows ?? 0,
      held: loads[i]?.held === true,
      loadedRows: loads[i]?.rowsLoaded ?? 0,
      loadId: loads[i]?.loadId,
      extractedAt: m.extractedAt,
    }));

  let plan: Awaited<ReturnType<Activities['planRun']>>;
  let extractor: typeof heavy;
  try {
    plan = await state.step(
      'plan',
      () =>
        quick.planRun({
          dataset: input.dataset,
          window: input.window,
          partition: input.mode === 'reload' || input.skipExtract === true,
        }),
      (p) => ({ tables: p.tables.length, publish: p.publish.length }),
    );
    extractor = proxyActivities<Activities>({
      taskQueue: plan.extractTaskQueue,
      startToCloseTimeout: '30m',
      heartbeatTimeout: '2m',
      retry,
    });
    const gateTimeoutMs = input.gateTimeout ? parseDuration(input.gateTimeout) : plan.gateTimeoutMs;
    await waitForUpstream();
    if (!input.skipExtract) await extractAndLoad();
    if (input.through === 'load') {
      // A backfill partition: raw now holds the partition; one publish follows all partitions.
      status.state = 'loaded';
      return await finish();
    }
    await transform();

    const { skipped } = await runGateLoop({
      state,
      gate: (attempt) => heavy.gate({ ...io, attempt, counts: counts(), drift: status.drift }),
      alert,
      tellParent,
      gateTimeoutMs,
      extractAndLoad,
      transform,
    });

    const blockedTables = manifests
      .filter((m) => m.blocked)
      .map((m) => ({ table: m.table, reason: `breaking schema drift (${m.drift?.summary})` }));
    const published = await state.step(
      'publish',
      () => heavy.publish({ ...io, blockedTables }),
      (p) => ({ tables: p.tables.length, rows: sum(p.tables, (t) => t.rows), held: p.held.length }),
      (p) =>
        [...p.tables.map((t) => `${t.table}=${t.rows}`), ...p.held.map((h) => `HELD ${h.table}: ${h.reason}`)].join(
          ' ',
        ),
    );
    status.held = published.held;
    await runRefreshLoop({
      state,
      refresh: (round) => bi.refresh({ ...io, round }),
      tellParent,
      waitMs: input.failedRefreshTimeout ? parseDuration(input.failedRefreshTimeout) : plan.failedRefreshTimeoutMs,
    });
    if (status.steps.refresh.detail?.startsWith('skipped')) status.steps.refresh.status = 'skipped';
    status.state = skipped
      ? 'published_skipped_gate'
      : status.held.length
        ? 'published_partial'
        : status.gate?.errors.length
          ? 'published_with_errors'
          : 'succeeded';
  } catch (err) {
    status.state = 'failed';
    status.error = failureReason(err);
    await audit();
    await notifyWaiters();
    throw err;
  }
  return finish();

  async function finish(): Promise<RunSummary> {
    await audit();
    status.currentStep = null;
    await notifyWaiters();
    return {
      workflowId: workflowInfo().workflowId,
      status: status.state,
      steps: status.steps,
      gate: status.gate,
      drift: status.drift,
      held: status.held,
      alerts: status.alerts,
    };
  }

  /**
   * A dataset that reads another's marts waits, durably (timers, not a busy activity), until the
   * upstream published a window reaching this window's end; past the timeout the run fails, saying which.
   */
  async function waitForUpstream(): Promise<void> {
    for (const dep of plan.dependsOn ?? []) {
      const deadline = Date.now() + dep.timeoutMs;
      status.currentStep = `waiting for ${dep.dataset}`;
      for (;;) {
        const up = await quick.upstreamPublished({ dataset: dep.dataset, through: input.window.end });
        if (up.published) break;
        if (Date.now() >= deadline) {
          throw ApplicationFailure.nonRetryable(
            `upstream dataset ${dep.dataset} has not published through ${input.window.end} (last: ${up.through ?? 'never'}) within ${dep.timeoutMs / 1000}s`,
            'UpstreamTimeout',
          );
        }
        status.state = 'waiting_upstream';
        // Poll about ten times per timeout, between 1 s and 1 min: cheap timers, prompt once upstream publishes.
        await sleep(Math.min(60_000, Math.max(1_000, dep.timeoutMs / 10), Math.max(1_000, deadline - Date.now())));
      }
      status.state = 'running';
    }
  }

  /** Tells every backfill that joined this run (notifyOnFinish) how it ended; one that is gone no longer cares. */
  async function notifyWaiters(): Promise<void> {
    for (const id of waiters) {
      await getExternalWorkflowHandle(id)
        .signal(partitionDoneSignal, { workflowId: workflowInfo().workflowId, status: status.state })
        .catch(() => undefined);
    }
  }

  /** A backfill's progress counts its blocked runs: tell it (input.reportTo) when the gate blocks or resumes. */
  async function tellParent(state: string): Promise<void> {
    if (input.reportTo)
      await getExternalWorkflowHandle(input.reportTo)
        .signal(partitionStateSignal, { workflowId: workflowInfo().workflowId, state })
        .catch(() => undefined);
  }

  async function alert(kind: 'gate_blocked' | 'gate_timeout', checks: string[], detail: string): Promise<void> {
    try {
      const r = await notify.alert({ ...io, kind, checks, detail });
      status.alerts.push({ kind, sent: r.sent, note: r.note });
    } catch (err) {
      // An ActivityFailure says "Activity task failed"; its cause says why.
      const cause = (err as { cause?: Error }).cause;
      status.alerts.push({ kind, sent: false, note: `alert failed: ${cause?.message ?? (err as Error).message}` });
    }
  }

  async function audit(): Promise<void> {
    const t0 = Date.now();
    status.currentStep = 'audit';
    await quick.audit({
      ...io,
      status: status.state,
      steps: status.steps,
      gateDecision: status.decisions.length ? status.decisions : null,
      error: status.error,
      startedAt: state.startedAt,
    });
    status.steps.audit = { status: 'completed', startedAt: new Date(t0).toISOString(), ms: Date.now() - t0 };
  }
}

/** How an incremental mart changed, for the step detail: merged (+inserted ~updated -deleted) or partitions rewritten. */
function modelChanges(m: {
  how?: string;
  changes?: { inserted: number; updated: number; deleted: number };
  partitions?: number;
  keys?: number;
}): string {
  if (m.how === 'keys') return ` (${m.keys} key(s) merged)`;
  if (m.how === 'merged' && m.changes)
    return ` (merged +${m.changes.inserted} ~${m.changes.updated} -${m.changes.deleted})`;
  if (m.how === 'partitions') return ` (${m.partitions} partition(s) rewritten)`;
  return '';
}
