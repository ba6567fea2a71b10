/**
 * Extraction benchmark: our extract+stage (`extractTable` for sales_core's orders: per primary-key chunk
 * of table.chunkRows rows a REPEATABLE READ snapshot, count + max cursor, COPY → node → FIFO → DuckDB →
 * Parquet, staged), run in a separate worker-like process, against PostgreSQL's own
 * `COPY (SELECT …) TO STDOUT` of the same columns and window into a sink that discards the bytes, on the
 * same table in the same run, at each table size in turn.
 *
 *   npx tsx bench/extract.ts --rows 1000000,10000000                 # throughput ratio + worker peak RSS per size
 *   npx tsx bench/extract.ts --rows 1000000,10000000 --breakdown --oltp --max-read-mbps 0,16
 *
 * One throwaway cluster (.dev/bench, stopped and removed at the end) with the demo schema; shop.orders
 * is grown to each size with set-based SQL (bench/common.ts, 1M rows per INSERT … SELECT).
 * Per size, --runs times each (default 2, alternating COPY and ours), it prints: COPY rows/s and ours
 * rows/s (best run of each), the ratio (target ≥ 0.70), the worker's peak RSS (VmHWM of the child
 * process, limit 300 MB) and CPU seconds per party (PostgreSQL backend, worker JS thread, worker's
 * other threads); at the end, whether peak RSS grew from the smallest to the largest size.
 * --breakdown times the extract's parts one by one (count query, COPY to a file, DuckDB CSV → Parquet
 * from a file, and the PG → node → FIFO → DuckDB path with other read_csv buffer sizes / threads).
 * --oltp then runs the pgbench phase of bench/oltp-impact.ts against the largest table (same options
 * there: --pgbench-scale/-seconds/-mode, --worker-nice), once per --max-read-mbps value.
 * Before every measured run it waits (up to 3 min) for the box to be quiet, and each line reports the
 * "other load" seen meanwhile (CPU used by anything but PostgreSQL's backend, the worker and this script).
 */
import { createWriteStream, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Command } from 'commander';
import { Client } from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import type { Window } from '../activities/sources/postgres/manifest';
import { DuckDbWarehouse } from '../activities/warehouse/engines/duckdb';
import { qualified, quoteIdent, quoteLiteral } from '../activities/warehouse/sql';
import {
  BENCH_DIR,
  copyBaseline,
  copySelect,
  csvColumnSpec,
  fmtInt,
  fullWindow,
  growOrders,
  log,
  parseSizes,
  printSummary,
  runExtractChild,
  startBenchDb,
  waitForQuiet,
  type BenchDb,
  type ChildRun,
  type CopyBaseline,
} from './common';
import { measureOltpImpact, oltpSummaryLines, type OltpResult } from './oltp-impact';
import { beginReadSnapshot } from '../activities/sources/postgres/extract';

const RATIO_TARGET = 0.7;
const RSS_LIMIT_MB = 300;

interface SizeResult {
  size: number;
  seedSeconds: number;
  baselines: CopyBaseline[];
  ours: ChildRun[];
  breakdown?: Breakdown;
}

async function main(): Promise<void> {
  const opts = new Command()
    .option('--rows <list>', 'table sizes to measure, ascending, comma-separated (1000000 or 1M)', '1000000,10000000')
    .option(
      '--runs <n>',
      'runs of PostgreSQL COPY and of our extract per size, alternating; the best of each is compared',
      '2',
    )
    .option('--converter-threads <n>', 'DuckDB converter threads in the worker (workers/deps.ts opens 1)', '1')
    .option(
      '--breakdown',
      "also time the extract's parts one by one (count query, COPY to file, DuckDB CSV→Parquet variants)",
    )
    .option('--oltp', 'after the sizes, run the pgbench OLTP-impact phase against the largest table')
    .option('--pgbench-scale <n>', 'with --oltp: pgbench -i scale', '20')
    .option('--pgbench-seconds <n>', 'with --oltp: seconds per pgbench run', '20')
    .option('--pgbench-mode <mode>', 'with --oltp: tpcb (default TPC-B-like read/write) or select (-S)', 'tpcb')
    .option(
      '--worker-nice <n>',
      'with --oltp: nice value of the extracting worker (its process and autogroup), e.g. 19',
      '0',
    )
    .option(
      '--max-read-mbps <list>',
      "with --oltp: one phase per value of the source's maxReadMBPerSecond (0: unthrottled), e.g. 0,16",
      '0',
    )
    .parse()
    .opts();
  const sizes = parseSizes(opts.rows);
  const runs = Math.max(1, Number(opts.runs));
  const converterThreads = Number(opts.converterThreads);
  const work = join(BENCH_DIR, 'work');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const started = performance.now();
  const db = await startBenchDb('orders');
  const results: SizeResult[] = [];
  const oltp: OltpResult[] = [];
  try {
    const anchor = new Date();
    for (const size of sizes) {
      log(`growing shop.orders to ${fmtInt(size)} rows`);
      const seed = await growOrders(db.pool, size, anchor);
      const { window, rows } = await fullWindow(db.pool, db.table);
      const select = await copySelect(db.pool, db.table, window);
      log(
        `shop.orders has ${fmtInt(rows)} rows (+${fmtInt(seed.inserted)} in ${seed.seconds.toFixed(1)} s); window ${window.start} .. ${window.end}`,
      );

      const result: SizeResult = { size, seedSeconds: seed.seconds, baselines: [], ours: [] };
      for (let i = 0; i < runs; i++) {
        await waitForQuiet();
        const b = await copyBaseline(db.pg.url, select);
        log(
          `  postgres COPY → null: ${fmtInt(b.rows)} rows in ${b.seconds.toFixed(2)} s (${(b.bytes / 1e6).toFixed(0)} MB csv, backend CPU ${b.backendCpu.toFixed(1)} s, other load ${b.otherCores.toFixed(2)} cores)`,
        );
        if (b.rows !== rows) throw new Error(`COPY returned ${b.rows} rows, table has ${rows}`);
        result.baselines.push(b);
        await waitForQuiet();
        const ours = await runExtractChild(
          { url: db.pg.url, tableName: db.table.name, window, dir: work, converterThreads },
          db.pool,
        );
        const r = ours.report;
        log(
          `  freshline extract   : ${fmtInt(r.rows)} rows in ${r.seconds.toFixed(2)} s (${(r.bytes / 1e6).toFixed(0)} MB parquet, ${r.parts} part(s)), ` +
            `peak RSS ${r.peakRssMB.toFixed(0)} MB (idle ${r.rssBeforeMB.toFixed(0)} MB), ${cpuLine(ours)}`,
        );
        if (r.rows !== rows || r.sourceRows !== rows)
          throw new Error(`extract staged ${r.rows} rows (source ${r.sourceRows}), table has ${rows}`);
        result.ours.push(ours);
      }
      if (opts.breakdown) result.breakdown = await breakdown(db, select, window, work);
      results.push(result);
    }
    if (opts.oltp) {
      const { window } = await fullWindow(db.pool, db.table);
      for (const cap of String(opts.maxReadMbps).split(',').map(Number)) {
        oltp.push(
          await measureOltpImpact(db, window, work, {
            scale: Number(opts.pgbenchScale),
            seconds: Number(opts.pgbenchSeconds),
            mode: opts.pgbenchMode === 'select' ? 'select' : 'tpcb',
            workerNice: Number(opts.workerNice),
            converterThreads,
            maxReadMBPerSecond: cap,
          }),
        );
      }
    }
  } finally {
    await db.close();
    rmSync(work, { recursive: true, force: true });
  }

  const lines: string[] = [];
  const peak = (res: SizeResult) => Math.max(...res.ours.map((o) => o.report.peakRssMB));
  for (const res of results) {
    const copyBest = res.baselines.reduce((a, b) => (b.seconds < a.seconds ? b : a));
    const oursBest = res.ours.reduce((a, b) => (b.report.seconds < a.report.seconds ? b : a));
    const copyRate = copyBest.rows / copyBest.seconds;
    const ourRate = oursBest.report.rows / oursBest.report.seconds;
    const r = oursBest.report;
    const list = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(', ');
    lines.push(
      `${fmtInt(res.size)} rows (generated in ${res.seedSeconds.toFixed(0)} s):`,
      `  postgres COPY TO STDOUT → null : ${fmtInt(copyRate)} rows/s (best of [${list(res.baselines.map((b) => b.seconds))}] s; ${(copyBest.bytes / 1e6).toFixed(0)} MB csv; backend CPU ${copyBest.backendCpu.toFixed(1)} s; other load ${copyBest.otherCores.toFixed(2)} cores)`,
      `  freshline extract+stage        : ${fmtInt(ourRate)} rows/s (best of [${list(res.ours.map((o) => o.report.seconds))}] s; ${(r.bytes / 1e6).toFixed(0)} MB parquet in ${r.parts} part(s); converter threads ${converterThreads})`,
      `  ratio ours/COPY                : ${(ourRate / copyRate).toFixed(2)} (target >= ${RATIO_TARGET.toFixed(2)}) ${ourRate / copyRate >= RATIO_TARGET ? 'OK' : 'BELOW TARGET'}`,
      `  worker peak RSS (VmHWM)        : ${peak(res).toFixed(0)} MB (limit ${RSS_LIMIT_MB}; per run [${res.ours.map((o) => o.report.peakRssMB.toFixed(0)).join(', ')}]; ` +
        `idle worker ${r.rssBeforeMB.toFixed(0)} MB; sampled max ${Math.max(...res.ours.map((o) => o.report.sampledMaxRssMB)).toFixed(0)} MB) ${peak(res) < RSS_LIMIT_MB ? 'OK' : 'OVER LIMIT'}`,
      `  CPU during best extract        : ${cpuLine(oursBest)}`,
    );
    if (res.breakdown) lines.push(...breakdownLines(res.breakdown));
  }
  if (results.length >= 2) {
    const small = results[0];
    const large = results[results.length - 1];
    const growth = peak(large) / peak(small);
    lines.push(
      `peak RSS ${fmtInt(small.size)} → ${fmtInt(large.size)} rows: ${peak(small).toFixed(0)} → ${peak(large).toFixed(0)} MB ` +
        `(x${growth.toFixed(2)} for x${(large.size / small.size).toFixed(0)} rows) ${growth <= 1.2 ? 'flat: does not grow with table size' : 'GROWS with table size'} (run-to-run spread is about ±15%)`,
    );
  }
  for (const phase of oltp) lines.push(...oltpSummaryLines(phase));
  lines.push(`total wall time ${((performance.now() - started) / 1000).toFixed(0)} s`);
  printSummary('bench/extract.ts — freshline extract+stage vs PostgreSQL COPY', lines);
}

function cpuLine(run: ChildRun): string {
  const r = run.report;
  const others = Object.entries(r.cpuOtherThreads)
    .filter(([, s]) => s >= 0.05)
    .sort((a, b) => b[1] - a[1])
    .map(([name, s]) => `${name} ${s.toFixed(1)}`)
    .join(', ');
  const pg = run.backendCpu === null ? '?' : run.backendCpu.toFixed(1);
  return `pg backend ${pg} s, worker JS thread ${r.cpuMain.toFixed(1)} s, worker other threads [${others || '-'}] s, box ${run.busyCores.toFixed(2)} cores busy (other load ${run.otherCores.toFixed(2)})`;
}

// ---------------------------------------------------------------------------------------------
// --breakdown: the extract's parts, one at a time, to see what dominates
// ---------------------------------------------------------------------------------------------

interface Breakdown {
  countSeconds: number;
  copyToFileSeconds: number;
  csvBytes: number;
  /** DuckDB read_csv → Parquet from a regular file, zstd / uncompressed: DuckDB's own cost. */
  fileToParquet: { zstd: number; plain: number };
  /** PG COPY → node → FIFO → DuckDB → Parquet zstd, as csvToParquet does it, with variants (child process). */
  fifo: { label: string; seconds: number; peakRssMB: number; cpu: string }[];
}

async function breakdown(db: BenchDb, select: string, window: Window, work: string): Promise<Breakdown> {
  const csv = join(work, 'breakdown.csv');
  const parquet = join(work, 'breakdown.parquet');
  const session = async <T>(fn: (c: Client) => Promise<T>): Promise<T> => {
    const client = new Client({ connectionString: db.pg.url });
    await client.connect();
    try {
      await beginReadSnapshot(client);
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } finally {
      await client.end();
    }
  };
  const timed = async (fn: () => Promise<unknown>) => {
    const t = performance.now();
    await fn();
    return (performance.now() - t) / 1000;
  };
  const cursor = quoteIdent(db.table.cursor);
  await waitForQuiet();
  const countSeconds = await session((c) =>
    timed(() =>
      c.query(
        `SELECT count(*) AS n, max(${cursor}) FROM ${qualified(db.table.schema, db.table.name)} WHERE ${cursor} >= $1 AND ${cursor} < $2`,
        [window.start, window.end],
      ),
    ),
  );
  const copyToFileSeconds = await session((c) =>
    timed(() => pipeline(c.query(copyTo(`COPY (${select}) TO STDOUT WITH (FORMAT csv)`)), createWriteStream(csv))),
  );
  const csvBytes = statSync(csv).size;

  const spec = await csvColumnSpec(db.pool, db.table);
  // The read_csv options csvToParquet in activities/sources/postgres/extract.ts uses, plus `extra`.
  const readCsv = (path: string, extra = '') =>
    `read_csv(${quoteLiteral(path, 'duckdb')}, header = false, auto_detect = false, delim = ',', quote = '"', escape = '"', nullstr = '', allow_quoted_nulls = false, columns = ${spec}${extra})`;
  const withDuck = async (fn: (d: DuckDbWarehouse) => Promise<unknown>) => {
    const d = await DuckDbWarehouse.open(':memory:', { threads: 2, memoryLimit: '256MB' });
    try {
      return await timed(() => fn(d));
    } finally {
      await d.close();
      rmSync(parquet, { force: true });
    }
  };
  const fileTo = (compression: string) =>
    withDuck((d) =>
      d.run(
        `COPY (SELECT * FROM ${readCsv(csv)}) TO ${quoteLiteral(parquet, 'duckdb')} (FORMAT parquet, COMPRESSION ${compression})`,
      ),
    );
  await waitForQuiet();
  const zstd = await fileTo('zstd');
  await waitForQuiet();
  const fileToParquet = { zstd, plain: await fileTo('uncompressed') };
  rmSync(csv, { force: true });

  // The extract's streaming path (no count query, no staging) in a worker-like child, with variants.
  const fifo: Breakdown['fifo'] = [];
  for (const [label, threads, readCsvExtra] of [
    ['like extract (threads 2, default buffer_size)', 2, ''],
    ['threads 2, buffer_size 2 MB', 2, ', buffer_size = 2097152'],
    ['threads 1, default buffer_size', 1, ''],
    ['threads 1, buffer_size 2 MB', 1, ', buffer_size = 2097152'],
  ] as const) {
    await waitForQuiet();
    const run = await runExtractChild(
      {
        url: db.pg.url,
        tableName: db.table.name,
        window,
        dir: work,
        converterThreads: threads,
        variant: { select, spec, readCsvExtra },
      },
      db.pool,
    );
    fifo.push({ label, seconds: run.report.seconds, peakRssMB: run.report.peakRssMB, cpu: cpuLine(run) });
  }
  const result: Breakdown = { countSeconds, copyToFileSeconds, csvBytes, fileToParquet, fifo };
  for (const line of breakdownLines(result)) log(line);
  return result;
}

function breakdownLines(b: Breakdown): string[] {
  return [
    `  breakdown (each part alone, one after the other):`,
    `    count(*)+max(cursor) in window        : ${b.countSeconds.toFixed(2)} s (extract runs it before its COPY)`,
    `    COPY → csv file                       : ${b.copyToFileSeconds.toFixed(2)} s (${(b.csvBytes / 1e6).toFixed(0)} MB)`,
    `    DuckDB csv file → parquet zstd        : ${b.fileToParquet.zstd.toFixed(2)} s (2 threads; uncompressed: ${b.fileToParquet.plain.toFixed(2)} s)`,
    `    streaming path only (one COPY → node → FIFO → DuckDB → parquet zstd for the whole window; no chunks, count or staging), in a worker-like child:`,
    ...b.fifo.map(
      (f) => `      ${f.label.padEnd(44)}: ${f.seconds.toFixed(2)} s, peak RSS ${f.peakRssMB.toFixed(0)} MB; ${f.cpu}`,
    ),
  ];
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
