/*
 * Workflow tests with stub activities: the REAL workflow bundle (workflows/index.ts, bundled once by global setup)
 * on a worker whose activities are the small in-test functions below (an object implementing `Activities`), so a
 * test drives pipelineRun/backfill through their public surface — input, signals, queries, result, activity calls —
 * without PostgreSQL or DuckDB.
 *
 * Time-skipping decision: NOT used. `TestWorkflowEnvironment.createTimeSkipping()` needs Temporal's Java test server
 * (`temporal-test-server`, a native image). `@temporalio/testing` can run one already on disk
 * (`server.executable: { type: 'existing-path', path }`), but none is installed here and none is obtainable: it is
 * downloaded from GitHub/temporal.download, which this machine cannot reach, and no npm, Debian or Go package ships
 * it (the Temporal CLI we build is the dev server, which cannot skip time). So these tests run on the real dev server
 * global setup already starts (`TestWorkflowEnvironment.createFromExistingServer`) and keep durable timers short
 * through the workflows' own inputs: `gateTimeout`/`failedRefreshTimeout` of a few hundred ms, and tiny dependsOn
 * timeouts returned by the stub `planRun`. The dev server still fires a durable timer about 1 s after it was set,
 * however short (50 ms and 300 ms timers both measured at ~1 s), and a dependent run polls its upstream at least
 * 1 s apart (workflows/pipeline-run.ts): tests that wait on a timer take ~1–1.5 s, the others well under a second.
 *
 * Isolation: one worker per test file on its own task queue; every test takes a fresh dataset name (`world.scenario`),
 * so its workflow ids (`<dataset>/window/…`, `<dataset>/partition/…`) and its activity call log are its own.
 */
import { randomBytes } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { Activities } from '../../activities';
import type { RefreshResult } from '../../activities/refresh';
import type { Manifest } from '../../activities/sources/postgres/manifest';
import { installRuntime } from '../../workers/runtime';
import { progressQuery, type BackfillProgress } from '../../workflows/backfill-messages';
import { windowWorkflowId } from '../../workflows/ids';
import type { PipelineRunInput } from '../../workflows/input';
import { statusQuery, type RunStatus } from '../../workflows/messages';
import { pipelineRun } from '../../workflows/pipeline-run';
import { testEnv } from './env';

export type ActivityName = keyof Activities;

/** One stub activity call as the worker received it. */
export interface Call {
  name: ActivityName;
  input: Record<string, unknown>;
}

/** How a scenario's stub activities behave; everything optional (default: a clean run that publishes). */
export interface Scenario {
  /** Source tables planRun returns (one extract and one load each). Default: orders, customers. */
  tables?: string[];
  /** Upstream datasets planRun returns; their upstreamPublished calls are answered by this scenario. */
  dependsOn?: { dataset: string; timeoutMs: number }[];
  /** Failed critical checks of the n-th gate call (1-based); default none: the gate passes. */
  gateCritical?: (n: number) => string[];
  /** The n-th refresh call: return a result or throw. Default: skipped (no Tableau target). */
  refresh?: (n: number) => RefreshResult;
  /** The n-th upstreamPublished call. Default: published. */
  upstreamPublished?: (n: number) => { published: boolean; through: string | null };
  /** Runs before every stub activity, once it is logged: await a hold, or throw to fail it. */
  before?: (call: Call, n: number) => Promise<void> | void;
}

/** What a test reads back: its activity calls in order. */
export interface CallLog {
  readonly all: Call[];
  names(): ActivityName[];
  count(name: ActivityName): number;
  /** How often each of `names` was called, as one object (one assertion shows every step's count). */
  counts<N extends ActivityName>(...names: N[]): Record<N, number>;
  of(name: ActivityName): Record<string, unknown>[];
}

/** A promise the test releases: an activity awaiting it stays running until then. */
export interface Hold {
  wait(): Promise<void>;
  release(): void;
}

export function hold(): Hold {
  let release!: () => void;
  const p = new Promise<void>((r) => (release = r));
  return { wait: () => p, release };
}

/** A non-retryable activity failure (the workflows' retry policy would otherwise retry after 1, 2, 4, 8 s). */
export function activityError(message: string, type = 'StubFailure'): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, type);
}

/** A dataset name no other test uses (lower-case identifier, as the workflow input requires). */
export function uniqueName(label: string): string {
  return `${label.toLowerCase().replace(/[^a-z0-9_]/g, '_')}_${randomBytes(3).toString('hex')}`;
}

const WINDOW = { start: '2026-11-22T10:00:00.000Z', end: '2026-11-22T10:15:00.000Z' };

export interface StubWorld {
  client: Client;
  taskQueue: string;
  /** A fresh dataset (unique name) whose activities behave as `scenario` says. */
  scenario(label: string, scenario?: Scenario): { dataset: string; calls: CallLog };
  /** Starts pipelineRun for the dataset (default window, id `<dataset>/window/<start>`). */
  start(input: Partial<PipelineRunInput> & { dataset: string }): Promise<WorkflowHandle<typeof pipelineRun>>;
  close(): Promise<void>;
}

/** Connects to global setup's dev server and starts one worker (real workflow bundle, stub activities). */
export async function startStubWorld(file: string): Promise<StubWorld> {
  installRuntime();
  const env = await TestWorkflowEnvironment.createFromExistingServer({ address: testEnv('temporalAddress') });
  const taskQueue = `wf-${file}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const scenarios = new Map<string, { scenario: Scenario; log: Call[]; counts: Map<ActivityName, number> }>();

  /** Logs the call under its dataset's scenario, runs `before`, then the behaviour. */
  function stub<I extends { dataset: string }, R>(
    name: ActivityName,
    behave: (input: I, s: Scenario, n: number) => R | Promise<R>,
  ): (input: I) => Promise<R> {
    return async (input: I) => {
      const entry = scenarios.get(input.dataset);
      if (!entry) throw activityError(`stub ${name}: no scenario for dataset '${input.dataset}'`);
      const call: Call = { name, input: input as unknown as Record<string, unknown> };
      entry.log.push(call);
      const n = (entry.counts.get(name) ?? 0) + 1;
      entry.counts.set(name, n);
      await entry.scenario.before?.(call, n);
      return behave(input, entry.scenario, n);
    };
  }
  const notUsed = (name: ActivityName) => async (): Promise<never> => {
    throw activityError(`stub activities: ${name} is not stubbed (not expected in these workflow tests)`);
  };

  const activities: Activities = {
    planRun: stub('planRun', (i: { dataset: string }, s) => ({
      dataset: i.dataset,
      tables: s.tables ?? ['orders', 'customers'],
      cdcTables: [],
      publish: ['fct_orders'],
      gateTimeoutMs: 60_000,
      failedRefreshTimeoutMs: 60_000,
      // Extracts are polled by the same worker: one task queue for everything.
      extractTaskQueue: taskQueue,
      dependsOn: s.dependsOn ?? [],
    })),
    extract: stub('extract', (i: { dataset: string; window: Manifest['window']; table: string }) => manifest(i)),
    load: stub('load', (i: { dataset: string; manifest: Manifest }) => ({
      table: i.manifest.table,
      rawTable: `raw.shop__${i.manifest.table}`,
      loadId: `load-${i.manifest.table}`,
      rowsLoaded: i.manifest.rows,
      rowsReplaced: 0,
      tombstones: 0,
      evolved: [],
      skipped: null,
    })),
    transform: stub('transform', () => ({ models: [{ model: 'fct_orders', layer: 'marts', rows: 3, ms: 1 }] })),
    gate: stub('gate', (i: { dataset: string; attempt: number }, s, n) => {
      const critical = s.gateCritical?.(n) ?? [];
      return {
        attempt: i.attempt,
        results: critical.map((check) => ({
          check,
          type: 'unique' as const,
          model: 'fct_orders',
          severity: 'critical' as const,
          status: 'fail' as const,
          failingRows: 2,
          quarantinedRows: 0,
          sampleKeys: [],
          detail: '2 duplicate rows',
        })),
        critical,
        errors: [],
        warnings: [],
      };
    }),
    publish: stub('publish', () => ({ tables: [{ table: 'fct_orders', rows: 3 }], held: [] })),
    refresh: stub(
      'refresh',
      (_i, s, n): RefreshResult => s.refresh?.(n) ?? { status: 'skipped', reason: 'no Tableau target (stub)' },
    ),
    audit: stub('audit', () => undefined),
    alert: stub('alert', () => ({ sent: false, note: 'stub: no webhook' })),
    upstreamPublished: stub(
      'upstreamPublished',
      (i: { dataset: string; through: string }, s, n) =>
        s.upstreamPublished?.(n) ?? { published: true, through: i.through },
    ),
    captureCdc: notUsed('captureCdc'),
    confirmCdc: notUsed('confirmCdc'),
    dqReport: notUsed('dqReport'),
    releaseQuarantine: notUsed('releaseQuarantine'),
    compactRaw: notUsed('compactRaw'),
    checkFreshness: notUsed('checkFreshness'),
    freshnessAlert: notUsed('freshnessAlert'),
  };

  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: { codePath: testEnv('bundlePath') },
    activities,
  });
  const running = worker.run();

  return {
    client: env.client,
    taskQueue,
    scenario(label, scenario = {}) {
      const dataset = uniqueName(label);
      const entry = { scenario, log: [] as Call[], counts: new Map<ActivityName, number>() };
      scenarios.set(dataset, entry);
      // A dependent run asks about its upstream by the upstream's name: answer from this scenario too.
      for (const dep of scenario.dependsOn ?? []) scenarios.set(dep.dataset, entry);
      const log = entry.log;
      return {
        dataset,
        calls: {
          all: log,
          names: () => log.map((c) => c.name),
          count: (name) => log.filter((c) => c.name === name).length,
          counts: (...names) =>
            Object.fromEntries(names.map((n) => [n, log.filter((c) => c.name === n).length])) as Record<
              (typeof names)[number],
              number
            >,
          of: (name) => log.filter((c) => c.name === name).map((c) => c.input),
        },
      };
    },
    start(input) {
      const args: PipelineRunInput = { window: WINDOW, ...input };
      return env.client.workflow.start(pipelineRun, {
        taskQueue,
        workflowId: windowWorkflowId(args.dataset, args.window.start),
        args: [args],
      });
    },
    async close() {
      worker.shutdown();
      await running;
      await env.teardown();
    },
  };
}

/** A small manifest: where the staged files would be, never data. */
function manifest(i: { dataset: string; window: Manifest['window']; table: string }): Manifest {
  return {
    mode: 'incremental',
    source: 'shop',
    schema: 'shop',
    table: i.table,
    window: i.window,
    readFrom: i.window.start,
    keys: [`shop/${i.table}/part-0.parquet`],
    rows: 3,
    sourceRows: 3,
    bytes: 100,
    schemaHash: 'stub',
    columns: [],
    primaryKey: ['id'],
    cursor: 'updated_at',
    maxCursor: null,
    extractedAt: i.window.end,
    drift: null,
    blocked: false,
    unchanged: false,
    checksum: null,
  };
}

/**
 * Polls a query until `done` holds (every 20 ms, at most `ms`), returning that value; fails with the last value
 * seen. A query can fail before the run's first workflow task: retried within the same bound.
 */
export async function waitFor<T>(
  read: () => Promise<T>,
  done: (v: T) => boolean,
  what: string,
  ms = 10_000,
): Promise<T> {
  const until = Date.now() + ms;
  let last: unknown = 'no answer yet';
  while (Date.now() < until) {
    try {
      const v = await read();
      if (done(v)) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(
    `timed out waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`,
  );
}

/** Waits for a pipelineRun's `status` query to report `state`. */
export function waitForState(handle: Pick<WorkflowHandle, 'query'>, state: RunStatus['state']): Promise<RunStatus> {
  return waitFor(
    () => handle.query(statusQuery),
    (s) => s.state === state,
    `state ${state}`,
  );
}

/** Waits for a backfill's `progress` query to satisfy `done`. */
export function waitForProgress(
  handle: Pick<WorkflowHandle, 'query'>,
  done: (p: BackfillProgress) => boolean,
  what: string,
): Promise<BackfillProgress> {
  return waitFor(() => handle.query(progressQuery), done, what);
}

/** The failure of a failed workflow's result: its ApplicationFailure (type, message), else the error itself. */
export async function failureOf(result: Promise<unknown>): Promise<{ type?: string; message: string }> {
  const err = await result.then(
    () => {
      throw new Error('expected the workflow to fail, it completed');
    },
    (e: unknown) => e,
  );
  const cause = (err as { cause?: { type?: string; message: string } }).cause;
  if (cause) return { type: cause.type, message: cause.message };
  throw err;
}
