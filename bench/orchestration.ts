/**
 * Orchestration benchmark, on the embedded stack (Temporal dev server, PostgreSQL, DuckDB, one in-process worker):
 *
 * 1. Overhead of a pipelineRun on an empty window (no source changes): the run's wall time (history:
 *    WorkflowExecutionStarted → Completed) against its activities' own durations (ActivityTaskStarted →
 *    Completed). Printed both against the plain sum of those durations (what the activities cost, counting
 *    parallel extracts and loads once each) and against their union on the time line (time during which
 *    at least one activity ran): wall − union is the time Temporal and the workflow code add — workflow
 *    tasks, dispatch, retries' timers — which should stay ≤ 1 s per run.
 * 2. Backfill throughput in partitions per minute at maxConcurrent 1, 4, 16 (workflow type `backfill`,
 *    started by name; skipped with a message when the worker does not register that type).
 *
 *   npx tsx bench/orchestration.ts [--runs 5] [--partitions 16] [--partition day] [--concurrency 1,4,16] [--skip-backfill]
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { NativeConnection } from '@temporalio/worker';
import { Command } from 'commander';
import { Pool } from 'pg';
import { EnvSecretStore } from '../activities/secrets/secret-store';
import { newPayloadKeys, PAYLOAD_KEYS_SECRET } from '../codec/keys';
import { payloadDataConverter } from '../codec/payload-codec';
import { loadConfig } from '../config/load';
import { createDemoSchema, seedDemoData } from '../infra/demo-oltp/generator';
import { freePort } from '../infra/local/ports';
import { startPostgres } from '../infra/local/postgres';
import { ensureTemporalCli } from '../infra/local/temporal-cli';
import { startTemporalDevServer } from '../infra/local/temporal-server';
import { openEmbeddedDeps } from '../workers/deps';
import { installRuntime } from '../workers/runtime';
import { createFreshlineWorkers } from '../workers/worker';
import { windowWorkflowId } from '../workflows/ids';
import { pipelineRun } from '../workflows/pipeline-run';
import { log, printSummary, rssSampler, waitForQuiet } from './common';
import * as workflowModule from '../workflows';

const DIR = resolve(__dirname, '..', '.dev', 'bench-orchestration');
const TASK_QUEUE = 'bench-orchestration';
const QUARTER = 15 * 60_000;
const OVERHEAD_LIMIT_S = 1;

type Event = temporal.api.history.v1.IHistoryEvent;
const ms = (e: Event) => Number(e.eventTime?.seconds ?? 0) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6);
const s = (millis: number) => (millis / 1000).toFixed(2);
const peakRssMb = () => Math.round(process.resourceUsage().maxRSS / 1024);
/** RSS sampled every 25 ms: the peak of one phase. */
const rss = rssSampler();
const rssMb = rss.mb;

/** One run's timing from its history. */
interface RunTiming {
  wallMs: number;
  activities: number;
  /** Σ (completed − started) over every activity. */
  sumMs: number;
  /** Length of the union of [started, completed] intervals: time at least one activity was running. */
  busyMs: number;
  /** Σ (started − scheduled): time activities waited in their task queues. */
  queuedMs: number;
  /** Σ (workflow task completed − started): time the workflow code ran on the worker. */
  workflowTaskMs: number;
  /** Stretches with no activity running, longest first: length and the events on either side. */
  idle: { ms: number; after: string; before: string }[];
}

/** An event's type in words, e.g. ActivityTaskCompleted(load). */
function label(e: Event | undefined, activityType: Map<string, string>): string {
  if (!e) return 'end';
  const key = Object.keys(e).find((k) => k.endsWith('EventAttributes') && (e as Record<string, unknown>)[k]) ?? '?';
  const name = key.replace(/EventAttributes$/, '').replace(/^./, (c) => c.toUpperCase());
  const attrs = (e as Record<string, { scheduledEventId?: unknown; activityType?: { name?: string } }>)[key];
  const type = attrs?.activityType?.name ?? activityType.get(String(attrs?.scheduledEventId));
  return type ? `${name}(${type})` : name;
}

function timing(events: Event[]): RunTiming {
  const start = events.find((e) => e.workflowExecutionStartedEventAttributes);
  const end = [...events]
    .reverse()
    .find((e) => e.workflowExecutionCompletedEventAttributes || e.workflowExecutionFailedEventAttributes);
  if (!start || !end) throw new Error('history has no start or no close event');
  const scheduled = new Map<string, number>();
  const started = new Map<string, number>();
  const intervals: [number, number][] = [];
  let queuedMs = 0;
  let workflowTaskMs = 0;
  const wftStarted = new Map<string, number>();
  for (const e of events) {
    const id = String(e.eventId);
    if (e.activityTaskScheduledEventAttributes) scheduled.set(id, ms(e));
    const st = e.activityTaskStartedEventAttributes;
    if (st) {
      started.set(String(st.scheduledEventId), ms(e));
      queuedMs += ms(e) - (scheduled.get(String(st.scheduledEventId)) ?? ms(e));
    }
    const done =
      e.activityTaskCompletedEventAttributes ??
      e.activityTaskFailedEventAttributes ??
      e.activityTaskTimedOutEventAttributes;
    if (done) {
      const t0 = started.get(String(done.scheduledEventId));
      if (t0 !== undefined) intervals.push([t0, ms(e)]);
    }
    if (e.workflowTaskStartedEventAttributes) wftStarted.set(id, ms(e));
    const wc = e.workflowTaskCompletedEventAttributes;
    if (wc) workflowTaskMs += ms(e) - (wftStarted.get(String(wc.startedEventId)) ?? ms(e));
  }
  intervals.sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const iv of intervals) {
    const last = merged.at(-1);
    if (last && iv[0] <= last[1]) last[1] = Math.max(last[1], iv[1]);
    else merged.push([...iv]);
  }
  const busyMs = merged.reduce((n, [a, b]) => n + (b - a), 0);
  // Idle stretches: before the first activity, between merged intervals, after the last.
  const activityType = new Map<string, string>();
  for (const e of events)
    if (e.activityTaskScheduledEventAttributes)
      activityType.set(String(e.eventId), e.activityTaskScheduledEventAttributes.activityType?.name ?? '?');
  const edges = [ms(start), ...merged.flat(), ms(end)];
  const idle: RunTiming['idle'] = [];
  for (let i = 0; i < edges.length; i += 2) {
    const [a, b] = [edges[i], edges[i + 1]];
    if (b - a <= 0) continue;
    // The last event at or before the gap's start, and the first one after it.
    const after = [...events].reverse().find((e) => ms(e) <= a);
    const before = events.find((e) => ms(e) > a);
    idle.push({ ms: b - a, after: label(after, activityType), before: label(before, activityType) });
  }
  idle.sort((x, y) => y.ms - x.ms);
  return {
    wallMs: ms(end) - ms(start),
    activities: intervals.length,
    sumMs: intervals.reduce((n, [a, b]) => n + (b - a), 0),
    busyMs,
    queuedMs,
    workflowTaskMs,
    idle,
  };
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor(sorted.length / 2)] : 0;
}

async function main(): Promise<void> {
  const opts = new Command()
    .option('--runs <n>', 'pipelineRuns on empty windows', '5')
    .option('--partitions <n>', 'backfill partitions per concurrency setting', '16')
    .option('--partition <size>', 'backfill partition size: day or hour', 'day')
    .option('--concurrency <list>', 'backfill maxConcurrent settings', '1,4,16')
    .option('--skip-backfill', 'measure the overhead only')
    .parse()
    .opts();
  const runs = Number(opts.runs);
  const partitions = Number(opts.partitions);
  const partition = opts.partition as 'day' | 'hour';
  const concurrency = String(opts.concurrency).split(',').map(Number);
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a positive integer');
  if (!Number.isInteger(partitions) || partitions < 1) throw new Error('--partitions must be a positive integer');
  if (partition !== 'day' && partition !== 'hour') throw new Error("--partition must be 'day' or 'hour'");
  if (concurrency.some((c) => !Number.isInteger(c) || c < 1 || c > 64))
    throw new Error('--concurrency must list integers 1..64');

  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  installRuntime();
  const cli = await ensureTemporalCli(log);
  const [pg, server] = await Promise.all([
    startPostgres({ baseDir: DIR, log }),
    (async () =>
      startTemporalDevServer({
        cliPath: cli.path,
        dbFile: join(DIR, 'temporal.db'),
        port: await freePort(),
        uiPort: await freePort(),
        log,
      }))(),
  ]);
  const pool = new Pool({ connectionString: pg.url, max: 2 });
  pool.on('error', () => undefined);
  // Run in order at the end; later-opened things are unshifted so they close first.
  const cleanup: (() => Promise<unknown>)[] = [() => pool.end(), () => server.stop(), () => pg.stop()];
  const lines: string[] = [];
  try {
    await createDemoSchema(pool);
    const seeded = await seedDemoData(pool, { customers: 300, orders: 1200, seed: 42 });
    log(`seeded ${seeded.customers} customers, ${seeded.orders} orders (business dates over 30 days)`);
    const {
      rows: [{ t }],
    } = await pool.query<{ t: Date }>('SELECT max(updated_at) AS t FROM shop.orders');

    const secrets = new EnvSecretStore({
      SHOP_DB_URL: pg.url,
      FRESHLINE_PII_HMAC_KEY: randomBytes(32).toString('hex'),
      [PAYLOAD_KEYS_SECRET]: newPayloadKeys('bench'),
    });
    const deps = await openEmbeddedDeps({ dataDir: join(DIR, 'data'), config: loadConfig(), secrets });
    cleanup.unshift(() => deps.close());
    const nativeConnection = await NativeConnection.connect({ address: server.address });
    cleanup.unshift(() => nativeConnection.close());
    // Bundled in a child process, so webpack's heap does not count in this worker's RSS.
    log('bundling workflows');
    const codePath = join(DIR, 'workflow-bundle.js');
    execFileSync(
      process.execPath,
      [
        '--require',
        'tsx/cjs',
        '-e',
        `require('./workers/worker').bundleWorkflows().then((b) => require('fs').writeFileSync(${JSON.stringify(codePath)}, b.code))`,
      ],
      { cwd: resolve(__dirname, '..'), stdio: 'inherit' },
    );
    const workers = await createFreshlineWorkers({
      connection: nativeConnection,
      deps,
      taskQueue: TASK_QUEUE,
      workflowBundle: { codePath },
    });
    const running = workers.run();
    cleanup.unshift(async () => {
      workers.shutdown();
      await running;
    });
    const connection = await Connection.connect({ address: server.address });
    cleanup.unshift(() => connection.close());
    const client = new Client({ connection, dataConverter: await payloadDataConverter(secrets) });
    const run = async (window: { start: string; end: string }) => {
      const workflowId = windowWorkflowId('sales_core', window.start);
      const result = await client.workflow.execute(pipelineRun, {
        taskQueue: TASK_QUEUE,
        workflowId,
        args: [{ dataset: 'sales_core', window }],
      });
      const { events } = await client.workflow.getHandle(workflowId).fetchHistory();
      return { result, timing: timing(events ?? []) };
    };

    // Warm-up: the seed's window (everything loads, certified tables exist), then one empty window.
    const seedWindowStart = Math.floor(t.getTime() / QUARTER) * QUARTER;
    const warm = await run({
      start: new Date(seedWindowStart).toISOString(),
      end: new Date(seedWindowStart + QUARTER).toISOString(),
    });
    log(`warm-up: seed window ${warm.result.status} in ${s(warm.timing.wallMs)} s`);
    const empty = (k: number) => ({
      start: new Date(seedWindowStart - (k + 1) * QUARTER).toISOString(),
      end: new Date(seedWindowStart - k * QUARTER).toISOString(),
    });
    await run(empty(0));

    const busy = await waitForQuiet(0.5, 60);
    rss.reset();
    const timings: RunTiming[] = [];
    for (let k = 1; k <= runs; k++) {
      const r = await run(empty(k));
      if (r.result.status !== 'succeeded') throw new Error(`empty window run ${k}: ${r.result.status}`);
      const x = r.timing;
      timings.push(x);
      log(
        `empty window ${k}: wall ${s(x.wallMs)} s, ${x.activities} activities: sum ${s(x.sumMs)} s, busy ${s(x.busyMs)} s, ` +
          `overhead ${s(x.wallMs - x.busyMs)} s (queued ${s(x.queuedMs)} s, workflow tasks ${s(x.workflowTaskMs)} s)`,
      );
    }
    const med = (f: (x: RunTiming) => number) => median(timings.map(f));
    const overhead = med((x) => x.wallMs - x.busyMs);
    lines.push(
      `pipelineRun on an empty window, median of ${runs} (box ${busy.toFixed(2)} cores busy before): wall ${s(med((x) => x.wallMs))} s, ` +
        `${timings[0].activities} activities`,
      `  vs Σ activity durations ${s(med((x) => x.sumMs))} s: wall − Σ = ${s(med((x) => x.wallMs - x.sumMs))} s, Σ / wall = ${med((x) => x.sumMs / x.wallMs).toFixed(2)} ` +
        '(extracts run 2 at a time and loads 8 at a time, so Σ counts overlapping time more than once)',
      `  vs time any activity ran ${s(med((x) => x.busyMs))} s: overhead (no activity running) ${s(overhead)} s per run, ` +
        `${(100 * med((x) => (x.wallMs - x.busyMs) / x.wallMs)).toFixed(0)}% of wall — limit ${OVERHEAD_LIMIT_S} s: ${overhead <= OVERHEAD_LIMIT_S * 1000 ? 'OK' : 'OVER'}`,
      `  of which activities queued (scheduled → started, summed) ${s(med((x) => x.queuedMs))} s, workflow tasks on the worker ${s(med((x) => x.workflowTaskMs))} s`,
      `  longest idle stretches of the last run: ${timings
        .at(-1)!
        .idle.slice(0, 4)
        .map((g) => `${s(g.ms)} s after ${g.after}`)
        .join('; ')}`,
      `  peak RSS during these runs: ${rssMb()} MB (this process: worker with DuckDB, client)`,
    );

    // Backfill throughput.
    const registered = typeof (workflowModule as Record<string, unknown>).backfill === 'function';
    if (opts.skipBackfill) lines.push('backfill: skipped (--skip-backfill)');
    else if (!registered) {
      lines.push(
        "backfill: skipped — workflow type 'backfill' is not exported by workflows/index.ts, so the worker does not register it",
      );
    } else {
      const step = partition === 'day' ? 86_400_000 : 3_600_000;
      const to = Math.floor(t.getTime() / step) * step + step; // the newest partition holds today's orders
      const from = to - partitions * step;
      for (const maxConcurrent of concurrency) {
        await waitForQuiet(0.5, 60);
        const args = {
          dataset: 'sales_core',
          from: new Date(from).toISOString(),
          to: new Date(to).toISOString(),
          partition,
          maxConcurrent,
          mode: 'reload',
          rerunCompleted: true,
        };
        const workflowId = `bench/backfill/${maxConcurrent}/${Date.now()}`;
        rss.reset();
        const t0 = Date.now();
        const handle = await client.workflow.start('backfill', { taskQueue: TASK_QUEUE, workflowId, args: [args] });
        const result = (await handle.result()) as { done: number; failed: number; skipped: number; publish: string };
        const wallMs = Date.now() - t0;
        // The partition phase ends when the one publish run starts (or at the end, when there is none).
        const { events } = await handle.fetchHistory();
        const first = ms(events![0]);
        const publishAt = events!.find((e) =>
          e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId?.endsWith('/publish'),
        );
        const phaseMs = (publishAt ? ms(publishAt) : ms(events!.at(-1)!)) - first;
        const perMin = (partitions / phaseMs) * 60_000;
        const line =
          `backfill maxConcurrent ${String(maxConcurrent).padStart(2)}: ${partitions} ${partition} partitions (done ${result.done}, failed ${result.failed}, ` +
          `skipped ${result.skipped}) in ${s(phaseMs)} s → ${perMin.toFixed(1)} partitions/min; with the final publish (${result.publish}) ${s(wallMs)} s; peak RSS ${rssMb()} MB`;
        log(line);
        lines.push(line);
      }
    }
    lines.push(`peak RSS of this process over everything: ${peakRssMb()} MB`);
    printSummary('Orchestration: overhead per run and backfill throughput', lines);
  } finally {
    for (const c of cleanup) await c().catch((err: unknown) => log(`cleanup: ${(err as Error).message}`));
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
