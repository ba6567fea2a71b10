/**
 * OLTP-impact benchmark: pgbench TPS against the same PostgreSQL server with and without our
 * extraction of shop.orders running concurrently (extracts repeated in a worker-like child process,
 * bench/extract-child.ts, until pgbench ends). Prints TPS baseline, TPS under extraction and the
 * ratio (target ≥ 0.9).
 *
 *   npx tsx bench/oltp-impact.ts --rows 10000000                     # default: TPC-B-like (read/write), -c 4 -j 2 -T 20 -n
 *   npx tsx bench/oltp-impact.ts --rows 10000000 --mode select       # select-only (pgbench -S)
 *   npx tsx bench/oltp-impact.ts --rows 10000000 --converter-threads 1 --variant-buffer-size 2097152   # what-if
 *
 * Also runs as a phase of bench/extract.ts (--oltp), on the cluster that benchmark already grew.
 * Sequence: `pgbench -i -s <scale>` into a separate database `pgbench`; a 5 s warm-up; baseline run; the same run
 * while extracts loop; a second baseline run (drift check). The ratio is TPS under extraction divided
 * by the mean of the two baselines. `-n` skips pgbench's vacuum so runs do not differ by it.
 *
 * Scheduling: Linux groups CPU shares by session (autogroups) and every PostgreSQL backend is its own
 * session, so pgbench and the worker are each started in a session of their own; otherwise they would
 * split one share between them and pgbench's client would be starved by our worker rather than the
 * server by our extract. Each run reports CPU seconds by party (pgbench client, its backends, the
 * extract's backend, the worker, …). --worker-nice sets the worker's autogroup nice (e.g. 19: the
 * worker only gets idle CPU, roughly a worker on another host that yields to the database's box).
 */
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Command } from 'commander';
import { Client, type Pool } from 'pg';
import type { Window } from '../activities/sources/postgres/manifest';
import { createDatabase } from '../infra/local/postgres';
import {
  BENCH_DIR,
  copySelect,
  csvColumnSpec,
  fmtInt,
  fullWindow,
  growOrders,
  log,
  parseSizes,
  printSummary,
  startBenchDb,
  startExtractChild,
  waitForQuiet,
  type BenchDb,
} from './common';
import { CpuByCategory, cpuCount, systemCpu, type ChildReport } from './proc';

const execFileAsync = promisify(execFile);
const TPS_RATIO_TARGET = 0.9;

export interface OltpOptions {
  scale: number;
  seconds: number;
  mode: 'tpcb' | 'select';
  clients?: number;
  threads?: number;
  /** Run the extracting worker under `nice -n <n>` (0: same priority as everything else). */
  workerNice?: number;
  /** DuckDB converter threads in the worker (workers/deps.ts: 2). */
  converterThreads?: number;
  /**
   * What-if: loop only the extract's streaming path with this read_csv buffer_size (bytes) instead of
   * extractTable (see ChildRequest.variant); 0 = the real extractTable.
   */
  variantBufferSize?: number;
  /** The source's read cap during the run (MB/s of COPY output; 0: unthrottled). */
  maxReadMBPerSecond?: number;
}

export interface PgbenchRun {
  tps: number;
  transactions: number;
  latencyMs: number;
  /** Average busy cores of the box during the run. */
  busyCores: number;
  /** CPU seconds during the run by party (see runPgbench). */
  cpu: Record<string, number>;
}

export interface OltpResult {
  opts: Required<OltpOptions>;
  command: string;
  tableRows: number;
  before: PgbenchRun;
  under: PgbenchRun;
  after: PgbenchRun;
  extracts: ChildReport[];
  /** Rows/s the extract's COPY delivered during the pgbench run (pg_stat_progress_copy). */
  extractRowsPerSecond: number;
  workerPeakMB: number;
  ratio: number;
}

export async function measureOltpImpact(
  db: BenchDb,
  window: Window,
  work: string,
  options: OltpOptions,
): Promise<OltpResult> {
  const opts: Required<OltpOptions> = {
    clients: 4,
    threads: 2,
    workerNice: 0,
    converterThreads: 1,
    variantBufferSize: 0,
    maxReadMBPerSecond: 0,
    ...options,
  };
  const url = await createDatabase(db.pg.url, 'pgbench');
  const conn = ['-h', db.pg.host, '-p', String(db.pg.port), '-U', db.pg.user];
  const t = performance.now();
  await execFileAsync('pgbench', ['-i', '-s', String(opts.scale), '-q', ...conn, 'pgbench'], { maxBuffer: 16 << 20 });
  const accounts = await countRows(url, 'pgbench_accounts');
  log(
    `pgbench -i -s ${opts.scale} in ${((performance.now() - t) / 1000).toFixed(1)} s (database pgbench, ${fmtInt(accounts)} accounts)`,
  );
  const args = [
    '-c',
    String(opts.clients),
    '-j',
    String(opts.threads),
    '-T',
    String(opts.seconds),
    '-n',
    ...(opts.mode === 'select' ? ['-S'] : []),
  ];
  const command = `pgbench ${args.join(' ')} pgbench`;
  const { rows: tableRows } = await fullWindow(db.pool, db.table);

  // Warm-up (not measured): caches, pgbench's first-touch effects.
  await runPgbench(
    [
      '-c',
      String(opts.clients),
      '-j',
      String(opts.threads),
      '-T',
      '5',
      '-n',
      ...(opts.mode === 'select' ? ['-S'] : []),
    ],
    conn,
    db.pool,
  );
  await waitForQuiet();
  const before = await runPgbench(args, conn, db.pool);
  log(
    `  baseline            : ${before.tps.toFixed(0)} tps (${before.busyCores.toFixed(2)} cores busy; CPU s: ${cpuSplit(before)})`,
  );

  await waitForQuiet();
  const variant = opts.variantBufferSize
    ? {
        select: await copySelect(db.pool, db.table, window),
        spec: await csvColumnSpec(db.pool, db.table),
        readCsvExtra: `, buffer_size = ${Math.floor(opts.variantBufferSize)}`,
      }
    : undefined;
  const child = startExtractChild(
    {
      url: db.pg.url,
      tableName: db.table.name,
      window,
      dir: work,
      loop: true,
      converterThreads: opts.converterThreads,
      variant,
      maxReadMBPerSecond: opts.maxReadMBPerSecond || undefined,
    },
    { nice: opts.workerNice },
  );
  let under: PgbenchRun;
  // Rows the extract's COPY produced while pgbench ran, from pg_stat_progress_copy (per backend pid).
  const copied = new Map<number, { first: number; last: number }>();
  let started = false; // COPYs already running at the first sample count from where they were then
  const sampleCopy = async () => {
    const { rows } = await db.pool.query<{ pid: number; n: string }>(
      `SELECT p.pid, p.tuples_processed AS n FROM pg_stat_progress_copy p JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'freshline'`,
    );
    for (const r of rows) {
      const seen = copied.get(r.pid);
      if (seen)
        seen.last = Math.max(seen.last, Number(r.n)); // samples may resolve out of order
      else copied.set(r.pid, { first: started ? 0 : Number(r.n), last: Number(r.n) });
    }
    started = true;
  };
  let workerPeakMB: number;
  try {
    await child.ready;
    // Let the extract's snapshot, count and COPY start before pgbench does.
    await new Promise((r) => setTimeout(r, 1000));
    await sampleCopy();
    const sampler = setInterval(() => void sampleCopy().catch(() => undefined), 250);
    try {
      under = await runPgbench(args, conn, db.pool, child.pid);
    } finally {
      clearInterval(sampler);
    }
    await sampleCopy();
    workerPeakMB = vmHwmMB(child.pid);
  } finally {
    child.stop();
    await child.done.catch((err) => log(`  extract child: ${(err as Error).message}`));
  }
  const extracts = child.reports;
  const extractRows = [...copied.values()].reduce((a, c) => a + c.last - c.first, 0);
  log(
    `  under extraction    : ${under.tps.toFixed(0)} tps (${under.busyCores.toFixed(2)} cores busy; the extract's COPY sent ${fmtInt(extractRows)} rows ` +
      `meanwhile = ${fmtInt(extractRows / opts.seconds)} rows/s; ${extracts.length} full extract(s) of ${fmtInt(tableRows)} rows completed; worker peak RSS ${workerPeakMB.toFixed(0)} MB; CPU s: ${cpuSplit(under)})`,
  );
  await waitForQuiet();
  const after = await runPgbench(args, conn, db.pool);
  log(
    `  baseline again      : ${after.tps.toFixed(0)} tps (${after.busyCores.toFixed(2)} cores busy; CPU s: ${cpuSplit(after)})`,
  );
  return {
    opts,
    command,
    tableRows,
    before,
    under,
    after,
    extracts,
    extractRowsPerSecond: extractRows / opts.seconds,
    workerPeakMB,
    ratio: under.tps / ((before.tps + after.tps) / 2),
  };
}

async function countRows(url: string, table: string): Promise<number> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
  } finally {
    await client.end();
  }
}

function vmHwmMB(pid: number): number {
  try {
    return Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/**
 * One pgbench run in its own session (own scheduler autogroup, like a separate client program), with
 * the CPU of every process on the box sampled every 250 ms and attributed: pgbench's client, the
 * PostgreSQL backends serving pgbench, the backend(s) serving our extract, the rest of PostgreSQL,
 * the worker (extract child), this script, anything else.
 */
async function runPgbench(args: string[], conn: string[], pool: Pool, workerPid?: number): Promise<PgbenchRun> {
  const pgbenchBackends = new Set<number>();
  const extractBackends = new Set<number>();
  const refreshBackends = () =>
    pool
      .query<{ pid: number; app: string }>(
        "SELECT pid, application_name AS app FROM pg_stat_activity WHERE application_name IN ('pgbench', 'freshline')",
      )
      .then(({ rows }) => rows.forEach((r) => (r.app === 'pgbench' ? pgbenchBackends : extractBackends).add(r.pid)))
      .catch(() => undefined);
  const cpu = new CpuByCategory((pid, comm) => {
    if (pid === workerPid) return 'worker';
    if (pid === process.pid) return 'bench script';
    if (comm === 'pgbench') return 'pgbench client';
    if (pgbenchBackends.has(pid)) return 'pg backends (pgbench)';
    if (extractBackends.has(pid)) return 'pg backend (extract)';
    if (comm === 'postgres') return 'pg other';
    return 'other';
  });
  await refreshBackends();
  const s0 = systemCpu();
  cpu.sample();
  const sampler = setInterval(() => {
    cpu.sample();
    void refreshBackends();
  }, 250);
  let stdout = '';
  let stderr = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn('pgbench', [...args, ...conn, 'pgbench'], {
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
      child.on('error', reject);
      child.on('exit', (code) =>
        code === 0 ? resolve() : reject(new Error(`pgbench exited with ${code}: ${stderr.trim()}`)),
      );
    });
  } finally {
    clearInterval(sampler);
  }
  cpu.sample();
  const s1 = systemCpu();
  const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(stdout);
  if (!tps) throw new Error(`cannot find "tps = … (without initial connection time)" in pgbench output:\n${stdout}`);
  return {
    tps: Number(tps[1]),
    transactions: Number(/number of transactions actually processed: (\d+)/.exec(stdout)?.[1] ?? NaN),
    latencyMs: Number(/latency average = ([\d.]+) ms/.exec(stdout)?.[1] ?? NaN),
    busyCores: (s1.busy - s0.busy) / ((s1.total - s0.total) / cpuCount()),
    cpu: cpu.totals(),
  };
}

function cpuSplit(run: PgbenchRun): string {
  return Object.entries(run.cpu)
    .filter(([, v]) => v >= 0.1)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v.toFixed(1)}`)
    .join(', ');
}

export function oltpSummaryLines(r: OltpResult): string[] {
  const mode = r.opts.mode === 'select' ? 'select-only (-S)' : 'default TPC-B-like read/write';
  return [
    `OLTP impact: ${r.command}   (${mode}; scale ${r.opts.scale}; 5 s warm-up first; extracting ${fmtInt(r.tableRows)} rows of shop.orders in a loop` +
      `${r.opts.maxReadMBPerSecond ? `, source read cap maxReadMBPerSecond ${r.opts.maxReadMBPerSecond}` : ', unthrottled'}` +
      `${r.opts.workerNice ? `, worker under nice -n ${r.opts.workerNice}` : ''}${r.opts.converterThreads !== 2 ? `, converter threads ${r.opts.converterThreads}` : ''}` +
      `${r.opts.variantBufferSize ? `; WHAT-IF: streaming path only with read_csv buffer_size ${r.opts.variantBufferSize}, not extractTable` : ''})`,
    `  TPS baseline                   : ${r.before.tps.toFixed(0)} (again after: ${r.after.tps.toFixed(0)}; latency ${r.before.latencyMs.toFixed(2)} ms; ${r.before.busyCores.toFixed(2)} cores busy)`,
    `  TPS under extraction           : ${r.under.tps.toFixed(0)} (latency ${r.under.latencyMs.toFixed(2)} ms; ${r.under.busyCores.toFixed(2)} cores busy; ` +
      `extract ran throughout at ${fmtInt(r.extractRowsPerSecond)} rows/s, ${r.extracts.length} full extract(s) completed, worker peak RSS ${r.workerPeakMB.toFixed(0)} MB)`,
    `  CPU seconds by party, baseline : ${cpuSplit(r.before)}`,
    `  CPU seconds by party, under    : ${cpuSplit(r.under)}`,
    `  ratio under/baseline           : ${r.ratio.toFixed(2)} (target >= ${TPS_RATIO_TARGET.toFixed(2)}; baseline = mean of before/after) ${r.ratio >= TPS_RATIO_TARGET ? 'OK' : 'BELOW TARGET'}`,
  ];
}

async function main(): Promise<void> {
  const opts = new Command()
    .option('--rows <n>', 'rows of shop.orders to generate and extract (1000000 or 10M)', '10000000')
    .option('--scale <n>', 'pgbench -i scale', '20')
    .option('--seconds <n>', 'seconds per pgbench run (-T)', '20')
    .option('--mode <mode>', 'tpcb (default TPC-B-like read/write) or select (-S, select-only)', 'tpcb')
    .option('--clients <n>', 'pgbench -c', '4')
    .option('--threads <n>', 'pgbench -j', '2')
    .option('--converter-threads <n>', 'DuckDB converter threads in the worker (workers/deps.ts opens 1)', '1')
    .option(
      '--variant-buffer-size <bytes>',
      'what-if: loop only the streaming path with this read_csv buffer_size instead of extractTable',
      '0',
    )
    .option('--worker-nice <n>', 'nice value of the extracting worker (its process and autogroup), e.g. 19', '0')
    .option('--max-read-mbps <n>', "the source's maxReadMBPerSecond during the run (0: unthrottled)", '0')
    .parse()
    .opts();
  const [rows] = parseSizes(opts.rows).slice(-1);
  const work = join(BENCH_DIR, 'work');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const started = performance.now();
  const db = await startBenchDb('orders');
  let result: OltpResult;
  try {
    log(`growing shop.orders to ${fmtInt(rows)} rows`);
    const seed = await growOrders(db.pool, rows, new Date());
    log(`generated ${fmtInt(seed.inserted)} orders in ${seed.seconds.toFixed(1)} s`);
    const { window } = await fullWindow(db.pool, db.table);
    result = await measureOltpImpact(db, window, work, {
      scale: Number(opts.scale),
      seconds: Number(opts.seconds),
      mode: opts.mode === 'select' ? 'select' : 'tpcb',
      clients: Number(opts.clients),
      threads: Number(opts.threads),
      workerNice: Number(opts.workerNice),
      converterThreads: Number(opts.converterThreads),
      variantBufferSize: Number(opts.variantBufferSize),
      maxReadMBPerSecond: Number(opts.maxReadMbps),
    });
  } finally {
    await db.close();
    rmSync(work, { recursive: true, force: true });
  }
  printSummary('bench/oltp-impact.ts — pgbench TPS with and without a running extraction', [
    ...oltpSummaryLines(result),
    `total wall time ${((performance.now() - started) / 1000).toFixed(0)} s`,
  ]);
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
