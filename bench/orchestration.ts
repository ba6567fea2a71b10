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
 *    started by name; skipped with a message when the worker does not register that type). Per backfill
 *    also: its continue-as-new chain (runs, history events per run, read from each run's history), the
 *    history length of every partition child run (describe), the Temporal dev server's CPU and RSS and this
 *    worker's RSS (start, end, peak, and once a minute with the backfill's progress, so stalls and memory
 *    growth show while it runs).
 *
 *   npx tsx bench/orchestration.ts [--runs 5] [--partitions 16] [--partition day] [--concurrency 1,4,16] [--skip-backfill]
 *                                  [--history-limit 4000]
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
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
import { fmtInt, log, pidListeningOn, printSummary, rssMbOf, rssSampler, waitForQuiet } from './common';
import { cpuCount, cpuSeconds, systemCpu } from './proc';
import { progressQuery } from '../workflows/backfill-messages';
import * as workflowModule from '../workflows';

const DIR = resolve(__dirname, '..', '.dev', 'bench-orchestration');
const TASK_QUEUE = 'bench-orchestration';
const QUARTER = 15 * 60_000;
const OVERHEAD_LIMIT_S = 1;
/** A progress line per minute: enough to see a stall or a growing RSS without flooding a 30-minute log. */
const PROGRESS_EVERY_MS = 60_000;
/** Describe calls in flight when reading the partition runs' history lengths (2,160 one by one take minutes). */
const DESCRIBE_PARALLEL = 8;

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

/** A workflow run: id and run id. */
interface RunRef {
  workflowId: string;
  runId: string;
}

/** One run of a backfill's continue-as-new chain, read from its history. */
interface ChainRun {
  runId: string;
  events: number;
  startMs: number;
  endMs: number;
  /** Partition runs this run started (the publish run not among them). */
  children: RunRef[];
  /** When each of this run's partition runs closed, as this run recorded it. */
  childClosedMs: number[];
  /** The publish run and when it was initiated, in the run that started it. */
  publish?: RunRef & { initiatedMs: number };
  /** The next run of the chain, when this one continued as new. */
  next?: string;
}

/** A run's children, closes and successor from its history. */
function chainRun(runId: string, events: Event[]): ChainRun {
  const children: RunRef[] = [];
  const childClosedMs: number[] = [];
  let publish: ChainRun['publish'];
  const initiatedMs = new Map<string, number>();
  for (const e of events) {
    const init = e.startChildWorkflowExecutionInitiatedEventAttributes;
    if (init) initiatedMs.set(String(e.eventId), ms(e));
    const started = e.childWorkflowExecutionStartedEventAttributes?.workflowExecution;
    if (started?.workflowId && started.runId) {
      const ref = { workflowId: started.workflowId, runId: started.runId };
      const at = initiatedMs.get(String(e.childWorkflowExecutionStartedEventAttributes?.initiatedEventId)) ?? ms(e);
      if (ref.workflowId.endsWith('/publish')) publish = { ...ref, initiatedMs: at };
      else children.push(ref);
    }
    // Any close counts (completed, failed, cancelled, timed out, terminated): it frees a slot all the same.
    const closed =
      e.childWorkflowExecutionCompletedEventAttributes ??
      e.childWorkflowExecutionFailedEventAttributes ??
      e.childWorkflowExecutionCanceledEventAttributes ??
      e.childWorkflowExecutionTimedOutEventAttributes ??
      e.childWorkflowExecutionTerminatedEventAttributes;
    if (closed && !closed.workflowExecution?.workflowId?.endsWith('/publish')) childClosedMs.push(ms(e));
  }
  return {
    runId,
    events: events.length,
    startMs: ms(events[0]),
    endMs: ms(events.at(-1)!),
    children,
    childClosedMs,
    publish,
    next: events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined,
  };
}

/** Every run of the chain that started with `firstRunId`, oldest first, by each run's newExecutionRunId. */
async function backfillChain(client: Client, workflowId: string, firstRunId: string): Promise<ChainRun[]> {
  const chain: ChainRun[] = [];
  for (let runId: string | undefined = firstRunId; runId; runId = chain.at(-1)!.next) {
    const { events } = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    chain.push(chainRun(runId, events ?? []));
  }
  return chain;
}

/** How many executions visibility lists under the id: a cross-check of the chain followed by run id. */
async function visibilityRuns(client: Client, workflowId: string): Promise<number | null> {
  try {
    let n = 0;
    for await (const _ of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) n++;
    return n;
  } catch {
    return null; // a visibility store without this query: the chain alone answers
  }
}

/** f over xs with at most `limit` calls in flight, results in input order. */
async function mapLimit<T, R>(xs: T[], limit: number, f: (x: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(xs.length);
  let next = 0;
  const lane = async () => {
    while (next < xs.length) {
      const k = next++;
      out[k] = await f(xs[k]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, xs.length) }, lane));
  return out;
}

/** History length of each run from describe (the server's count, no history transferred); null where it failed. */
async function historyLengths(client: Client, runs: RunRef[]): Promise<(number | null)[]> {
  // One failed describe must not throw away the measurements of a half-hour backfill.
  return mapLimit(runs, DESCRIBE_PARALLEL, (r) =>
    client.workflow
      .getHandle(r.workflowId, r.runId)
      .describe()
      .then(
        (d) => d.historyLength,
        () => null,
      ),
  );
}

/** Longest stretch from the chain's start with no partition run closing, and when it began (ms since start). */
function longestQuiet(chain: ChainRun[]): { ms: number; atMs: number } {
  const t0 = chain[0].startMs;
  const end = chain.at(-1)!.publish?.initiatedMs ?? chain.at(-1)!.endMs;
  const times = [t0, ...chain.flatMap((r) => r.childClosedMs).sort((a, b) => a - b), end];
  let best = { ms: 0, atMs: 0 };
  for (let i = 1; i < times.length; i++)
    if (times[i] - times[i - 1] > best.ms) best = { ms: times[i] - times[i - 1], atMs: times[i - 1] - t0 };
  return best;
}

/** Up to `n` evenly spaced items of xs, always the first and the last. */
function spaced<T>(xs: T[], n: number): T[] {
  if (xs.length <= n) return xs;
  return Array.from({ length: n }, (_, i) => xs[Math.round((i * (xs.length - 1)) / (n - 1))]);
}

/** One progress sample of a running backfill. */
interface Sample {
  atS: number;
  done: number | null;
  workerRssMb: number;
  serverRssMb: number | null;
  serverCpuS: number | null;
}

/**
 * Logs the backfill's progress query, this worker's RSS and the server's CPU and RSS once a minute while it
 * runs, and says so when no partition finished since the last line (a stall shows while it happens).
 */
function watchBackfill(handle: WorkflowHandle, serverPid: number | null, total: number): { stop(): Sample[] } {
  const t0 = Date.now();
  const cpu0 = serverPid === null ? null : cpuSeconds(serverPid);
  const samples: Sample[] = [];
  const tick = async () => {
    // A query can fail while the run continues as new; that minute's line says so and the next one retries.
    const p = await handle.query(progressQuery).catch(() => null);
    const cpu = serverPid === null ? null : cpuSeconds(serverPid);
    const sample: Sample = {
      atS: Math.round((Date.now() - t0) / 1000),
      done: p ? p.done + p.failed : null,
      workerRssMb: Math.round(process.memoryUsage.rss() / 1024 / 1024),
      serverRssMb: serverPid === null ? null : rssMbOf(serverPid),
      serverCpuS: cpu === null || cpu0 === null ? null : cpu - cpu0,
    };
    const prev = samples.at(-1);
    samples.push(sample);
    const stalled =
      prev && prev.done !== null && sample.done === prev.done ? ' — NO partition finished since the last line' : '';
    log(
      `  backfill at ${sample.atS} s: ${p ? `${sample.done}/${total} finished (${p.failed} failed), ${p.running} running, continued as new ${p.continuedAsNew}×` : 'progress query failed'}; ` +
        `worker RSS ${sample.workerRssMb} MB; server CPU ${sample.serverCpuS?.toFixed(1) ?? '?'} s, RSS ${sample.serverRssMb ?? '?'} MB${stalled}`,
    );
  };
  const timer = setInterval(() => void tick(), PROGRESS_EVERY_MS);
  return {
    stop() {
      clearInterval(timer);
      return samples;
    },
  };
}

/** What the bench passes to the backfill workflow (started by name: the worker may not register it). */
interface BackfillArgs {
  dataset: string;
  from: string;
  to: string;
  partition: 'day' | 'hour';
  maxConcurrent: number;
  mode: 'reload';
  rerunCompleted: boolean;
  /** Continue as new past this many events; absent: the workflow's own default (4,000). */
  historyLimit?: number;
}

/**
 * Runs one backfill to its end (a failed one is still measured) and returns its summary lines: throughput,
 * the continue-as-new chain, the partition runs' history lengths, server CPU and RSS, worker RSS.
 */
async function measureBackfill(
  client: Client,
  serverPid: number | null,
  workflowId: string,
  args: BackfillArgs,
): Promise<string[]> {
  const partitions = partitionTotal(args);
  rss.reset();
  const rss0 = process.memoryUsage();
  const serverCpu0 = serverPid === null ? null : cpuSeconds(serverPid);
  const serverRss0 = serverPid === null ? null : rssMbOf(serverPid);
  const self0 = process.cpuUsage();
  const box0 = systemCpu();
  const t0 = Date.now();
  const handle = await client.workflow.start('backfill', { taskQueue: TASK_QUEUE, workflowId, args: [args] });
  const watch = watchBackfill(handle, serverPid, partitions);
  let result: { done: number; failed: number; skipped: number; publish: string; continuedAsNew: number } | undefined;
  let error: string | undefined;
  try {
    result = (await handle.result()) as NonNullable<typeof result>;
  } catch (err) {
    error = (err as { cause?: Error }).cause?.message ?? (err as Error).message;
  }
  // Everything measured over the backfill is read here, before the history reads below add their own load.
  const wallMs = Date.now() - t0;
  const serverCpu = serverCpu0 === null ? null : (cpuSeconds(serverPid!) ?? serverCpu0) - serverCpu0;
  const serverRss1 = serverPid === null ? null : rssMbOf(serverPid);
  const rss1 = process.memoryUsage();
  const peak = rssMb();
  const self = process.cpuUsage(self0);
  const box1 = systemCpu();
  const samples = watch.stop();

  const chain = await backfillChain(client, workflowId, handle.firstExecutionRunId);
  const visible = await visibilityRuns(client, workflowId);
  const children = chain.flatMap((r) => r.children);
  const publish = chain.find((r) => r.publish)?.publish;
  const d0 = Date.now();
  const described = await historyLengths(client, children);
  const childEvents = described.filter((n): n is number => n !== null);
  const publishEvents = publish ? (await historyLengths(client, [publish]))[0] : null;
  const describeS = (Date.now() - d0) / 1000;

  // The partition phase runs from the first run's start to the publish run's initiation (or the last run's end).
  const last = chain.at(-1)!;
  const phaseMs = (publish?.initiatedMs ?? last.endMs) - chain[0].startMs;
  const perMin = (partitions / phaseMs) * 60_000;
  const events = chain.map((r) => r.events);
  const totalEvents = events.reduce((a, b) => a + b, 0);
  const quiet = longestQuiet(chain);
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
  const mb = (bytes: number) => Math.round(bytes / 1024 / 1024);
  const wallS = wallMs / 1000;
  const boxCores = (box1.busy - box0.busy) / wallS;
  const outcome = result
    ? `done ${result.done}, failed ${result.failed}, skipped ${result.skipped}`
    : `FAILED: ${error?.slice(0, 300)}`;
  const lines = [
    `backfill maxConcurrent ${String(args.maxConcurrent).padStart(2)}: ${fmtInt(partitions)} ${args.partition} partitions (${outcome}) in ${s(phaseMs)} s ` +
      `→ ${perMin.toFixed(1)} partitions/min; with the final publish (${result?.publish ?? 'none'}) ${s(wallMs)} s wall`,
    `  continue-as-new chain (followed by newExecutionRunId): ${chain.length} runs (workflow says continued as new ${result?.continuedAsNew ?? '?'}×; ` +
      `visibility lists ${visible ?? '?'} executions under the id)`,
    `  history events per backfill run: ${events.map(fmtInt).join(', ')}; max ${fmtInt(Math.max(...events))}, total ${fmtInt(totalEvents)} ` +
      `(${(totalEvents / partitions).toFixed(1)} per partition)`,
    `  per run: ${chain.map((r) => `${r.children.length} partitions in ${s(r.endMs - r.startMs)} s`).join('; ')}`,
    `  longest stretch with no partition run closing: ${s(quiet.ms)} s, from ${s(quiet.atMs)} s into the backfill`,
    `  partition child runs: ${fmtInt(childEvents.length)} of ${fmtInt(children.length)} started described (all asked, none sampled; ${describeS.toFixed(1)} s): ` +
      `history events mean ${mean(childEvents).toFixed(1)}, median ${median(childEvents)}, max ${Math.max(0, ...childEvents)}, ` +
      `total ${fmtInt(childEvents.reduce((a, b) => a + b, 0))}; publish run ${publishEvents ?? 'none'} events`,
    serverPid === null
      ? '  Temporal dev server: pid not found (nothing listened on its port), CPU not measured'
      : `  Temporal dev server (pid ${serverPid}): CPU ${serverCpu?.toFixed(1)} s over the ${wallS.toFixed(0)} s backfill = ${((serverCpu ?? 0) / wallS).toFixed(2)} cores, ` +
        `${(((serverCpu ?? 0) / partitions) * 1000).toFixed(0)} ms per partition; RSS ${serverRss0} → ${serverRss1} MB`,
    `  worker (this process): RSS ${mb(rss0.rss)} MB at start, ${mb(rss1.rss)} MB at end, peak ${peak} MB; V8 heap used ${mb(rss0.heapUsed)} → ${mb(rss1.heapUsed)} MB; ` +
      `CPU ${((self.user + self.system) / 1e6).toFixed(1)} s = ${((self.user + self.system) / 1e6 / wallS).toFixed(2)} cores`,
    `  box: ${boxCores.toFixed(2)} of ${cpuCount()} cores busy on average over the backfill`,
  ];
  if (samples.length)
    lines.push(
      `  once a minute (s: finished partitions, worker RSS MB, server RSS MB): ${spaced(samples, 12)
        .map((x) => `${x.atS}: ${x.done ?? '?'}, ${x.workerRssMb}, ${x.serverRssMb ?? '?'}`)
        .join('; ')}`,
    );
  return lines;
}

/** How many partitions the backfill covers (its range is aligned to the partition already). */
function partitionTotal(args: BackfillArgs): number {
  const step = args.partition === 'day' ? 86_400_000 : 3_600_000;
  return Math.round((Date.parse(args.to) - Date.parse(args.from)) / step);
}

async function main(): Promise<void> {
  const opts = new Command()
    .option('--runs <n>', 'pipelineRuns on empty windows', '5')
    .option('--partitions <n>', 'backfill partitions per concurrency setting', '16')
    .option('--partition <size>', 'backfill partition size: day or hour', 'day')
    .option('--concurrency <list>', 'backfill maxConcurrent settings', '1,4,16')
    .option('--skip-backfill', 'measure the overhead only')
    .option('--history-limit <n>', "backfill's continue-as-new threshold in events (default: the workflow's)")
    .parse()
    .opts();
  const runs = Number(opts.runs);
  const partitions = Number(opts.partitions);
  const partition = opts.partition as 'day' | 'hour';
  const concurrency = String(opts.concurrency).split(',').map(Number);
  const historyLimit = opts.historyLimit === undefined ? undefined : Number(opts.historyLimit);
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a positive integer');
  if (!Number.isInteger(partitions) || partitions < 1) throw new Error('--partitions must be a positive integer');
  if (partition !== 'day' && partition !== 'hour') throw new Error("--partition must be 'day' or 'hour'");
  if (concurrency.some((c) => !Number.isInteger(c) || c < 1 || c > 64))
    throw new Error('--concurrency must list integers 1..64');
  // The workflow's input schema refuses less than 50.
  if (historyLimit !== undefined && !(Number.isInteger(historyLimit) && historyLimit >= 50))
    throw new Error('--history-limit must be an integer ≥ 50');

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
  // startTemporalDevServer does not expose its process: find it by the port it listens on.
  const serverPid = pidListeningOn(Number(server.address.split(':').at(-1)));
  log(`temporal: dev server pid ${serverPid ?? 'not found'}`);
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
        const args: BackfillArgs = {
          dataset: 'sales_core',
          from: new Date(from).toISOString(),
          to: new Date(to).toISOString(),
          partition,
          maxConcurrent,
          mode: 'reload',
          rerunCompleted: true,
          // Only when asked: a smoke test sees the chain with few partitions, a real run keeps the default.
          ...(historyLimit === undefined ? {} : { historyLimit }),
        };
        const workflowId = `bench/backfill/${maxConcurrent}/${Date.now()}`;
        const out = await measureBackfill(client, serverPid, workflowId, args);
        for (const l of out) log(l);
        lines.push(...out);
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
