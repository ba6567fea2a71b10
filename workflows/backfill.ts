import {
  ApplicationFailure,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  patched,
  setHandler,
  startChild,
  workflowInfo,
  WorkflowIdReusePolicy,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { z } from 'zod';
import { formatIssues } from '../config/format-issues';
import { isoInstant } from './input';
import {
  notifyOnFinishSignal,
  partitionDoneSignal,
  partitionStateSignal,
  progressQuery,
  type BackfillProgress,
} from './backfill-messages';
import { backfillWorkflowId, partitionWorkflowId } from './ids';
import { pipelineRun } from './pipeline-run';

// Patch: runs cancelled before it ended failed (every cancelled partition recorded as a failure).
const CANCEL_ENDS_CANCELLED = 'backfill-cancel-ends-cancelled';

/** Most partitions one backfill may cover: the list lives in workflow memory and every task must stay far below 5 s. */
export const MAX_BACKFILL_PARTITIONS = 10_000;

/** Failures a backfill keeps in its state (the most recent; `failed` still counts them all). */
export const MAX_KEPT_FAILURES = 100;
/** Longest failure text kept per partition. */
const MAX_FAILURE_CHARS = 500;

/** Input of a backfill: a dataset over [from, to), one child pipelineRun per partition. */
export const BackfillInputSchema = z
  .object({
    dataset: z.string().regex(/^[a-z_][a-z0-9_]*$/, 'must be a dataset name from config'),
    from: isoInstant,
    to: isoInstant,
    /** Partition size; partitions align to UTC days or hours. */
    partition: z.enum(['day', 'hour']).default('day'),
    /** Partitions extracting at once (each holds a source connection: keep it near the source's maxConcurrentExtracts). */
    maxConcurrent: z.number().int().min(1).max(64).default(4),
    /** reload: re-read each partition by business date (historical correction); incremental: the changes made in it. */
    mode: z.enum(['reload', 'incremental']).default('reload'),
    /** Re-run partitions that completed before (idempotent) instead of skipping them. */
    rerunCompleted: z.boolean().default(false),
    /** Continue as new once the history has this many events (tests lower it to see it happen). */
    historyLimit: z.number().int().min(50).default(4_000),
  })
  .strict()
  .refine((b) => Date.parse(b.from) < Date.parse(b.to), { message: 'to must be after from', path: ['to'] })
  .superRefine((b, ctx) => {
    // Counted arithmetically: materialising the list first is exactly what ran the worker out of memory.
    const n = partitionCount(b.from, b.to, b.partition);
    if (n > MAX_BACKFILL_PARTITIONS)
      ctx.addIssue({
        code: 'custom',
        path: ['to'],
        message: `would be ${n} ${b.partition} partitions; a backfill covers at most ${MAX_BACKFILL_PARTITIONS} (split the range or use partition: day)`,
      });
  });

export type BackfillInput = z.input<typeof BackfillInputSchema>;

/** Carried across continue-as-new: where the backfill is and what it counted so far. */
export interface BackfillState {
  next: number;
  done: number;
  failed: number;
  skipped: number;
  joined: number;
  startedAt: number;
  continuedAsNew: number;
  /** The most recent MAX_KEPT_FAILURES failures (oldest first); `failed` is the full count. */
  failures: { partition: string; error: string }[];
}

/** How many partitions cover [from, to), without listing them. */
export function partitionCount(from: string, to: string, partition: 'day' | 'hour'): number {
  const step = partition === 'day' ? 86_400_000 : 3_600_000;
  return Math.max(0, Math.ceil((Date.parse(to) - Math.floor(Date.parse(from) / step) * step) / step));
}

/** The partition starts covering [from, to), aligned to the partition size. */
export function partitionStarts(from: string, to: string, partition: 'day' | 'hour'): string[] {
  const step = partition === 'day' ? 86_400_000 : 3_600_000;
  const out: string[] = [];
  for (let t = Math.floor(Date.parse(from) / step) * step; t < Date.parse(to); t += step)
    out.push(new Date(t).toISOString());
  return out;
}

/**
 * Backfills a dataset: one child pipelineRun per partition (`<dataset>/partition/<start>`) that
 * extracts and loads it, at most `maxConcurrent` at once, then ONE pipelineRun that transforms, gates and
 * publishes everything loaded (publishing per partition would rebuild the marts thousands of times).
 * A partition already running — another backfill's, or this one's before a restart — is joined: it is
 * asked (notifyOnFinish) to signal when done, and awaited, never started twice (child workflows cannot
 * use a conflict policy to attach in the TypeScript SDK). Completed partitions are skipped unless
 * `rerunCompleted` (loads are keyed, so re-running never duplicates rows). The history is kept small by
 * continuing as new between partitions; the `progress` query says where it is.
 */
export async function backfill(rawInput: BackfillInput, carried?: BackfillState): Promise<BackfillProgress> {
  const parsed = BackfillInputSchema.safeParse(rawInput);
  if (!parsed.success)
    throw ApplicationFailure.nonRetryable(`invalid backfill input:\n${formatIssues(parsed.error)}`, 'InvalidInput');
  const input = parsed.data;
  const step = input.partition === 'day' ? 86_400_000 : 3_600_000;
  // Workflow time (deterministic on replay): a partition in the future would certify freshness ahead of time.
  if (Date.parse(input.to) > Date.now() + step)
    throw ApplicationFailure.nonRetryable(
      `invalid backfill input:\nto: ${input.to} is more than one partition (${input.partition}) in the future`,
      'InvalidInput',
    );
  const starts = partitionStarts(input.from, input.to, input.partition);
  const state: BackfillState = carried ?? {
    next: 0,
    done: 0,
    failed: 0,
    skipped: 0,
    joined: 0,
    startedAt: Date.now(),
    continuedAsNew: 0,
    failures: [],
  };
  // The publish child's id: `<canonical backfill id>/publish` (one per dataset, range and partition, however
  // from/to are spelled). Runs started before carry no marker and keep the id they already gave their child.
  const canonicalPublishId = patched('canonical-backfill-publish-id');
  const running = new Map<string, { blocked: boolean }>();
  const finishedJoined = new Map<string, string>();
  let publish = 'pending';

  setHandler(partitionDoneSignal, ({ workflowId, status }) => void finishedJoined.set(workflowId, status));
  setHandler(partitionStateSignal, ({ workflowId, state: s }) => {
    const r = running.get(workflowId);
    if (r) r.blocked = s === 'blocked';
    if (workflowId === publishId()) publish = s;
  });
  setHandler(progressQuery, (): BackfillProgress => {
    const finished = state.done + state.failed + state.skipped;
    const elapsed = (Date.now() - state.startedAt) / 1000;
    return {
      dataset: input.dataset,
      from: input.from,
      to: input.to,
      total: starts.length,
      done: state.done,
      failed: state.failed,
      skipped: state.skipped,
      joined: state.joined,
      running: running.size,
      blocked: [...running.values()].filter((r) => r.blocked).length,
      etaSeconds: finished > 0 ? Math.round((elapsed / finished) * (starts.length - finished)) : null,
      publish,
      continuedAsNew: state.continuedAsNew,
      failures: state.failures,
    };
  });

  const record = (id: string, status: string) => {
    if (status === 'loaded' || status === 'succeeded' || status.startsWith('published')) state.done++;
    else {
      state.failed++;
      // The state travels through continue-as-new: unbounded, ~20k failures passed the 2 MB payload limit.
      state.failures.push({ partition: id, error: status.slice(0, MAX_FAILURE_CHARS) });
      if (state.failures.length > MAX_KEPT_FAILURES)
        state.failures.splice(0, state.failures.length - MAX_KEPT_FAILURES);
    }
  };

  /**
   * Starts a child run with this id, or — when one with the id is already running — joins it: asks it
   * (notifyOnFinish) to signal its end, and waits. 'completed-before' when a finished run holds the id
   * and the reuse policy keeps it.
   */
  async function runOrJoin(
    id: string,
    args: Parameters<typeof pipelineRun>[0],
    reuse: WorkflowIdReusePolicy,
  ): Promise<string> {
    try {
      const child = await startChild(pipelineRun, { workflowId: id, args: [args], workflowIdReusePolicy: reuse });
      return (await child.result()).status;
    } catch (err) {
      // A cancelled backfill ends cancelled (its partitions with it), not failed with "re-run to retry them".
      if (isCancellation(err) && patched(CANCEL_ENDS_CANCELLED)) throw err;
      if (!(err instanceof WorkflowExecutionAlreadyStartedError))
        return `failed: ${(err as { cause?: Error }).cause?.message ?? (err as Error).message}`;
      // Running elsewhere (join it) or completed before: only a running one accepts the signal.
      const joined = await getExternalWorkflowHandle(id)
        .signal(notifyOnFinishSignal, { workflowId: workflowInfo().workflowId })
        .then(
          () => true,
          () => false,
        );
      if (!joined) return 'completed-before';
      state.joined++;
      // A run that finished between our start attempt and our signal never answers: give up after a day.
      return (await condition(() => finishedJoined.has(id), '24h'))
        ? finishedJoined.get(id)!
        : 'joined run never reported back within 24h';
    }
  }

  /** Runs (or joins, or skips) one partition to its end. */
  async function runPartition(start: string): Promise<void> {
    const id = partitionWorkflowId(input.dataset, start);
    running.set(id, { blocked: false });
    try {
      const window = { start, end: new Date(Date.parse(start) + step).toISOString() };
      // Completed runs keep their id unless completed partitions are re-run; failed ones always may re-run.
      const status = await runOrJoin(
        id,
        { dataset: input.dataset, window, mode: input.mode, through: 'load', reportTo: workflowInfo().workflowId },
        input.rerunCompleted
          ? WorkflowIdReusePolicy.ALLOW_DUPLICATE
          : WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
      );
      if (status === 'completed-before') state.skipped++;
      else record(id, status);
    } finally {
      running.delete(id);
    }
  }

  const inFlight = new Set<Promise<void>>();
  while (state.next < starts.length) {
    // Temporal's limit is 51,200 events: continue as new far below it (each partition costs ~10 events).
    if (workflowInfo().historyLength > input.historyLimit || workflowInfo().continueAsNewSuggested) {
      await Promise.all(inFlight); // children of this run must finish before it continues as new
      await continueAsNew<typeof backfill>(rawInput, { ...state, continuedAsNew: state.continuedAsNew + 1 });
    }
    const start = starts[state.next++];
    const p = runPartition(start).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= input.maxConcurrent) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);

  if (state.failed > 0) {
    publish = 'not run: partitions failed';
    throw ApplicationFailure.nonRetryable(
      `backfill of ${input.dataset}: ${state.failed} of ${starts.length} partitions failed (${state.failures
        .slice(0, 5)
        .map((f) => `${f.partition}: ${f.error}`)
        .join('; ')}); ` +
        'nothing was published — re-run the same backfill to retry them (completed partitions are skipped)',
      'BackfillFailed',
    );
  }
  // One publish over everything loaded; an overlapping backfill's publish of the same range is joined.
  publish = 'running';
  const window = { start: starts[0], end: new Date(Date.parse(starts.at(-1)!) + step).toISOString() };
  publish = await runOrJoin(
    publishId(),
    { dataset: input.dataset, window, skipExtract: true, reportTo: workflowInfo().workflowId },
    WorkflowIdReusePolicy.ALLOW_DUPLICATE,
  );
  const finished = state.done + state.failed + state.skipped;
  return {
    dataset: input.dataset,
    from: input.from,
    to: input.to,
    total: starts.length,
    done: state.done,
    failed: state.failed,
    skipped: state.skipped,
    joined: state.joined,
    running: 0,
    blocked: 0,
    etaSeconds: finished === starts.length ? 0 : null,
    publish,
    continuedAsNew: state.continuedAsNew,
    failures: state.failures,
  };

  function publishId(): string {
    return canonicalPublishId
      ? `${backfillWorkflowId(input.dataset, input.from, input.to, input.partition)}/publish`
      : `${input.dataset}/backfill/${input.from}--${input.to}/publish`;
  }
}
