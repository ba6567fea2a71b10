import { parseDuration } from '../../config/duration';
import type { TableauItemConfig, TableauTargetConfig } from '../../config/schema';
import { TableauApiError, formatMs, type TableauClient, type TableauItemKind, type TableauJob } from './client';

/**
 * Refreshes a dataset's Tableau items: resolves names to LUIDs (all of them before any refresh starts,
 * so a typo refreshes nothing), then starts or joins one extract refresh per item, at most
 * `maxConcurrentRefreshes` at once, polls each job to its end, and re-runs a failed or cancelled job up
 * to `retries` times. Progress is a small serialisable record the caller heartbeats: given back on a
 * retried attempt, finished items are not touched again and running jobs are polled, not started anew.
 */

/** One configured item's progress (heartbeat details; no credentials, only ids, names and notes). */
export interface ItemProgress {
  kind: TableauItemKind;
  /** As configured: the name, or `luid:<id>`. */
  ref: string;
  /** LUID once resolved. */
  id?: string;
  /** Name on the site once resolved. */
  name?: string;
  /** The job being polled (started by us or joined). */
  jobId?: string;
  /** When that job was started or joined (ISO): jobTimeout counts from here. */
  jobStartedAt?: string;
  /** The current job was already queued or running when we asked (409093): we joined it. */
  joined?: boolean;
  /** When this item's first job was started or joined (ISO): the recorded duration counts from here. */
  firstStartedAt?: string;
  /** Jobs started or joined for this item so far. */
  jobs: number;
  /** Failed or cancelled jobs re-run so far. */
  reruns: number;
  /** What happened, in order (rate-limit waits, re-sign-ins, joined jobs, failed jobs); the last 20. */
  notes: string[];
  outcome?: ItemOutcome;
}

/** How an item ended. */
export interface ItemOutcome {
  status: 'succeeded' | 'failed' | 'cancelled' | 'error';
  /** Tableau's finishCode of the last job (0 success, 1 failed, 2 cancelled); null when no job finished. */
  finishCode: number | null;
  jobId: string | null;
  /** From the first job's start (or join) to the end. */
  ms: number;
  finishedAt: string;
  /** Why it did not succeed (names the item). */
  message?: string;
  /** Trying again cannot help without someone changing something (config, permissions, the extract). */
  final: boolean;
}

/** Heartbeat details of the refresh activity. */
export interface RefreshProgress {
  step: 'refresh';
  items: ItemProgress[];
}

/** A refresh that did not succeed for every item; `final` when retrying the activity cannot help. */
export class TableauRefreshError extends Error {
  override name = 'TableauRefreshError';
  constructor(
    message: string,
    readonly final: boolean,
  ) {
    super(message);
  }
}

/** What the caller provides: the client, time, heartbeat, audit and the site's concurrency slots. */
export interface RefreshHooks {
  client: TableauClient;
  sleep(ms: number): Promise<void>;
  now(): number;
  /** Progress changed: heartbeat it. */
  progress(p: RefreshProgress): void;
  /** An item ended (success or not): record it. Called again for the same item only on a later attempt. */
  finished(item: ItemProgress, outcome: ItemOutcome): Promise<void>;
  /** Runs `fn` holding one of the site's refresh slots. */
  slot<T>(fn: () => Promise<T>): Promise<T>;
}

/** Is `details` progress this module wrote (a retried attempt's heartbeat details)? */
export function isRefreshProgress(details: unknown): details is RefreshProgress {
  return (
    !!details &&
    typeof details === 'object' &&
    (details as { step?: unknown }).step === 'refresh' &&
    Array.isArray((details as { items?: unknown }).items)
  );
}

/** The configured items, in order, resuming from `resumed` where it has the same item. */
export function planItems(cfg: TableauTargetConfig, resumed: RefreshProgress | null): ItemProgress[] {
  const ref = (item: TableauItemConfig) => (typeof item === 'string' ? item : `luid:${item.luid}`);
  const wanted = [
    ...cfg.datasources.map((i) => ({ kind: 'datasource' as const, ref: ref(i) })),
    ...cfg.workbooks.map((i) => ({ kind: 'workbook' as const, ref: ref(i) })),
  ];
  return wanted.map((w) => {
    const prior = resumed?.items.find((p) => p.kind === w.kind && p.ref === w.ref);
    if (!prior) return { ...w, jobs: 0, reruns: 0, notes: [] };
    // An outcome a retry can change is dropped: the item is tried again (its job, if any, is polled).
    return prior.outcome && !prior.outcome.final && prior.outcome.status !== 'succeeded'
      ? { ...prior, outcome: undefined }
      : prior;
  });
}

/** How an item is named in messages: kind, name and LUID as far as known. */
export function label(item: ItemProgress): string {
  const named = item.ref.startsWith('luid:')
    ? item.name
      ? `'${item.name}' (luid ${item.id ?? item.ref.slice(5)})`
      : `{ luid: ${item.ref.slice(5)} }`
    : `'${item.ref}'`;
  return `${item.kind} ${named}`;
}

/** Refreshes every item; resolves with their progress when all succeeded, else throws TableauRefreshError. */
export async function refreshTableauItems(
  cfg: TableauTargetConfig,
  resumed: RefreshProgress | null,
  hooks: RefreshHooks,
): Promise<ItemProgress[]> {
  const progress: RefreshProgress = { step: 'refresh', items: planItems(cfg, resumed) };
  const beat = () => hooks.progress(progress);
  const { client } = hooks;
  const pollMs = parseDuration(cfg.pollInterval);
  const jobTimeoutMs = parseDuration(cfg.jobTimeout);
  const iso = () => new Date(hooks.now()).toISOString();
  const noteFor = (item: ItemProgress) => (note: string) => {
    item.notes = [...item.notes, `${iso()} ${client.redact(note).slice(0, 300)}`].slice(-20);
  };
  beat();

  const end = async (item: ItemProgress, outcome: Omit<ItemOutcome, 'ms' | 'finishedAt'>): Promise<void> => {
    const full: ItemOutcome = {
      ...outcome,
      message: outcome.message ? client.redact(outcome.message) : undefined,
      ms: item.firstStartedAt ? hooks.now() - Date.parse(item.firstStartedAt) : 0,
      finishedAt: iso(),
    };
    await hooks.finished(item, full);
    item.outcome = full;
    beat();
  };
  const fail = (item: ItemProgress, err: TableauApiError | TableauRefreshError) =>
    end(item, {
      status: 'error',
      finishCode: null,
      jobId: item.jobId ?? null,
      message: explain(item, err),
      final: isFinal(err),
    });

  // 1. Resolve every item before refreshing any: a wrong name or a missing item stops the step here.
  //    (A refused sign-in throws from here too, naming the secrets, before any item is touched.)
  if (progress.items.some((i) => !i.outcome)) await client.signIn();
  for (const item of progress.items) {
    if (item.id || item.outcome) continue;
    const note = noteFor(item);
    try {
      if (item.ref.startsWith('luid:')) {
        const found = await client.getItem(item.kind, item.ref.slice(5), note);
        if (!found) {
          await end(item, {
            status: 'error',
            finishCode: null,
            jobId: null,
            final: true,
            message: `${label(item)} not found on ${client.target} (HTTP 404): check the LUID in bi.tableau.${item.kind}s`,
          });
          continue;
        }
        item.id = found.id;
        item.name = found.name;
      } else {
        const found = await client.findByName(item.kind, item.ref, note);
        if (found.length !== 1) {
          await end(item, {
            status: 'error',
            finishCode: null,
            jobId: null,
            final: true,
            message:
              found.length === 0
                ? `${label(item)} not found on ${client.target}: no ${item.kind} has that name (check bi.tableau.${item.kind}s, or give { luid })`
                : `${label(item)} is ambiguous on ${client.target}: ${found.length} ${item.kind}s have that name (projects ${found.map((f) => f.project ?? '?').join(', ')}); give { luid } instead`,
          });
          continue;
        }
        item.id = found[0].id;
        item.name = found[0].name;
      }
      beat();
    } catch (err) {
      if (!(err instanceof TableauApiError) || !isFinal(err)) throw err;
      await fail(item, err);
    }
  }
  const unresolved = progress.items.filter((i) => i.outcome && i.outcome.status !== 'succeeded' && !i.jobs);
  if (unresolved.length) {
    throw new TableauRefreshError(
      `Tableau refresh not started (${unresolved.length} of ${progress.items.length} items cannot be refreshed): ${unresolved.map((i) => i.outcome?.message).join('; ')}`,
      true,
    );
  }

  // 2. Refresh, at most maxConcurrentRefreshes at once on the site.
  const runItem = async (item: ItemProgress): Promise<void> => {
    const note = noteFor(item);
    for (;;) {
      if (!item.jobId) await startOrJoin(item, note);
      const job = await poll(item, note);
      for (const n of job.notes) note(`job ${job.id}: ${n}`);
      if (job.finishCode === 0) {
        note(`job ${job.id} succeeded`);
        await end(item, { status: 'succeeded', finishCode: 0, jobId: job.id, final: true });
        return;
      }
      const what = job.finishCode === 2 ? 'cancelled' : 'failed';
      note(`job ${job.id} ${what} (finishCode ${job.finishCode ?? 'missing'})`);
      if (item.reruns < cfg.retries) {
        item.reruns++;
        item.jobId = undefined;
        item.joined = undefined;
        note(`re-running the refresh (${item.reruns} of ${cfg.retries})`);
        beat();
        continue;
      }
      await end(item, {
        status: what,
        finishCode: job.finishCode ?? null,
        jobId: job.id,
        final: true,
        message: `${label(item)}: refresh job ${job.id} ${what} (finishCode ${job.finishCode ?? 'missing'})${cfg.retries ? ` after ${item.reruns} re-run(s)` : ''}${job.notes.length ? `: ${job.notes.join(' ').slice(0, 300)}` : ''}`,
      });
      return;
    }
  };

  const startOrJoin = async (item: ItemProgress, note: (n: string) => void): Promise<void> => {
    const id = item.id as string;
    for (let conflicts = 0; ; conflicts++) {
      let job: TableauJob | null;
      try {
        job = await client.startRefresh(item.kind, id, note);
        note(`started job ${job.id}`);
        item.joined = false;
      } catch (err) {
        if (!(err instanceof TableauApiError) || err.code !== '409093') throw err;
        // A refresh of this item is already queued or running: poll that one instead of queueing another.
        job = await client.findActiveRefreshJob(item.kind, id, note);
        if (!job) {
          if (conflicts >= 5)
            throw new TableauApiError(
              `Tableau keeps answering 409093 (refresh already queued) but lists no running refresh of ${label(item)}`,
              409,
              '409093',
              true,
            );
          note('409093 (refresh already queued) but no running job found yet: asking again');
          await hooks.sleep(pollMs);
          continue;
        }
        note(`joined job ${job.id} already ${job.startedAt ? 'running' : 'queued'} (created ${job.createdAt ?? '?'})`);
        item.joined = true;
      }
      item.jobId = job.id;
      item.jobStartedAt = iso();
      item.firstStartedAt ??= item.jobStartedAt;
      item.jobs++;
      beat();
      return;
    }
  };

  const poll = async (item: ItemProgress, note: (n: string) => void): Promise<TableauJob> => {
    const jobId = item.jobId as string;
    const deadline = Date.parse(item.jobStartedAt ?? iso()) + jobTimeoutMs;
    for (;;) {
      let job: TableauJob;
      try {
        job = await client.getJob(jobId, note);
      } catch (err) {
        // A job Tableau no longer knows (purged while we were away) counts as failed: it is re-run.
        if (err instanceof TableauApiError && err.status === 404)
          return { id: jobId, finished: true, finishCode: 1, notes: ['job no longer known to Tableau (HTTP 404)'] };
        throw err;
      }
      if (job.finished) return job;
      if (hooks.now() >= deadline) {
        throw new TableauRefreshError(
          `${label(item)}: refresh job ${jobId} not finished ${formatMs(jobTimeoutMs)} after it started (bi.tableau.jobTimeout); it may still be running on Tableau`,
          true,
        );
      }
      await hooks.sleep(Math.max(0, Math.min(pollMs, deadline - hooks.now())));
    }
  };

  const pending = progress.items.filter((i) => !i.outcome);
  const settled = await Promise.allSettled(
    pending.map((item) =>
      hooks.slot(async () => {
        try {
          await runItem(item);
        } catch (err) {
          // Anything else (a cancellation, a failing audit write) fails the attempt as it is.
          if (!(err instanceof TableauApiError || err instanceof TableauRefreshError)) throw err;
          await fail(item, err);
        }
      }),
    ),
  );
  const broken = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (broken) throw broken.reason;

  const failed = progress.items.filter((i) => i.outcome?.status !== 'succeeded');
  if (failed.length) {
    throw new TableauRefreshError(
      `Tableau refresh failed for ${failed.length} of ${progress.items.length} items: ${failed.map((i) => i.outcome?.message ?? label(i)).join('; ')}`,
      failed.some((i) => i.outcome?.final),
    );
  }
  return progress.items;
}

/** What went wrong with an item, naming it, with what to do for the answers that need a person. */
function explain(item: ItemProgress, err: TableauApiError | TableauRefreshError): string {
  if (err instanceof TableauRefreshError)
    return err.message.startsWith(label(item)) ? err.message : `${label(item)}: ${err.message}`;
  const hint =
    err.code === '409090'
      ? `has no extract to refresh (409090): publish it with an extract, or remove it from bi.tableau.${item.kind}s`
      : err.status === 403
        ? "may not be refreshed by the personal access token's user (HTTP 403): grant it permission to refresh extracts on this item"
        : err.status === 404
          ? `was not found (HTTP 404): it was deleted or moved; check bi.tableau.${item.kind}s`
          : null;
  return hint ? `${label(item)} ${hint} — ${err.message}` : `${label(item)}: ${err.message}`;
}

/**
 * Errors no retry of the activity can fix: the item is gone or not ours (403, 404), it has no extract
 * (409090), a job ran past jobTimeout, or Tableau refused the request as malformed.
 */
function isFinal(err: unknown): boolean {
  if (err instanceof TableauRefreshError) return err.final;
  if (err instanceof TableauApiError) return !err.retryable;
  return false;
}
