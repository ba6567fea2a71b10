/**
 * Worker-like child process of bench/extract.ts and bench/oltp-impact.ts; not meant to be run by hand.
 * It holds what a worker holds for extraction (workers/deps.ts): the in-memory DuckDB converter
 * (openParquetConverter: 1 thread, 256 MB, allocator flushed after each task) and a local-directory
 * stage; runs `extractTable` for one table of sales_core; and reports, per extract, rows, seconds, bytes, peak RSS (VmHWM from /proc/self/status,
 * cross-checked by a 25 ms VmRSS sampler) and CPU seconds per thread.
 *
 *   node --require tsx/cjs bench/extract-child.ts '{"url":…,"tableName":"orders","window":{…},"dir":…,"loop":false}'
 *
 * With "loop": true it repeats the extract until it is sent SIGTERM. With "variant" it runs only the
 * extract's streaming path with other read_csv options (see ChildRequest in bench/proc.ts).
 */
import { execFileSync } from 'node:child_process';
import { constants, mkdirSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Client } from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { extractTable, beginReadSnapshot } from '../activities/sources/postgres/extract';
import { LocalObjectStore } from '../activities/storage/local';
import { DuckDbWarehouse } from '../activities/warehouse/engines/duckdb';
import { openParquetConverter } from '../activities/sources/postgres/parquet-encoder';
import { quoteLiteral } from '../activities/warehouse/sql';
import { getDataset, loadConfig } from '../config/load';
import { CHILD_TAG, threadCpu, type ChildReport, type ChildRequest } from './proc';

function statusKb(field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : 0;
}

async function main(): Promise<void> {
  const req = JSON.parse(process.argv[2] ?? '') as ChildRequest;
  // The child runs in its own session (see startExtractChild): if the benchmark dies, do not linger.
  const parent = process.ppid;
  setInterval(() => process.ppid !== parent && process.exit(1), 1000).unref();
  const config = loadConfig();
  const dataset = getDataset(config, 'sales_core');
  const table = dataset.tables.find((t) => t.name === req.tableName);
  if (!table) throw new Error(`sales_core has no table '${req.tableName}'`);
  const configured = config.sources[dataset.source];
  const source = req.maxReadMBPerSecond ? { ...configured, maxReadMBPerSecond: req.maxReadMBPerSecond } : configured;
  // Same converter as workers/deps.ts gives the extract activity (threads overridable for experiments).
  const threadsBefore = new Set([...threadCpu('self').values()].map((t) => t.tid));
  const converter = await openParquetConverter(req.converterThreads);
  const duckdbThreads = new Set(
    [...threadCpu('self').values()]
      .filter((t) => !threadsBefore.has(t.tid) && t.comm !== 'libuv-worker')
      .map((t) => t.tid),
  );
  const stage = new LocalObjectStore(join(req.dir, 'stage'));
  const rssBeforeMB = statusKb('VmRSS') / 1024;
  process.stdout.write(`${CHILD_TAG}ready\n`);
  try {
    for (let iteration = 1; ; iteration++) {
      const before = threadCpu('self');
      let sampled = statusKb('VmRSS');
      const sampler = setInterval(() => (sampled = Math.max(sampled, statusKb('VmRSS'))), 25);
      const t = performance.now();
      const manifest = req.variant
        ? await streamVariant(converter, req.url, req.variant, join(req.dir, 'tmp'))
        : await extractTable({
            sourceName: dataset.source,
            source,
            url: req.url,
            table,
            window: req.window,
            lookbackMs: 0,
            piiKey: 'bench-pii-key',
            stage,
            converter,
            scratchDir: join(req.dir, 'tmp'),
          });
      const seconds = (performance.now() - t) / 1000;
      clearInterval(sampler);
      sampled = Math.max(sampled, statusKb('VmRSS'));
      const after = threadCpu('self');
      let cpuMain = 0;
      const cpuOtherThreads: Record<string, number> = {};
      for (const [key, th] of after) {
        const used = th.cpu - (before.get(key)?.cpu ?? 0);
        if (th.tid === process.pid) cpuMain += used;
        else {
          const name = duckdbThreads.has(th.tid) ? 'duckdb-worker' : th.comm;
          cpuOtherThreads[name] = (cpuOtherThreads[name] ?? 0) + used;
        }
      }
      const report: ChildReport = {
        iteration,
        rows: manifest.rows,
        sourceRows: manifest.sourceRows,
        bytes: manifest.bytes,
        parts: manifest.keys.length,
        seconds,
        rssBeforeMB,
        peakRssMB: statusKb('VmHWM') / 1024,
        sampledMaxRssMB: sampled / 1024,
        cpuMain,
        cpuOtherThreads,
      };
      process.stdout.write(`${CHILD_TAG}${JSON.stringify(report)}\n`);
      // The Parquet file is only measured, never loaded: drop it so loops do not fill the disk.
      for (const key of manifest.keys) rmSync(req.variant ? key : stage.uriFor(key), { force: true });
      if (!req.loop) break;
    }
  } finally {
    await converter.close();
  }
}

/**
 * The streaming core of extractTable (activities/sources/postgres/extract.ts: COPY in a REPEATABLE READ
 * snapshot → node → FIFO → DuckDB read_csv → Parquet zstd) with extra read_csv options; no count
 * query, no PII, no staging. Only for the what-if rows of --breakdown.
 */
async function streamVariant(
  db: DuckDbWarehouse,
  url: string,
  variant: NonNullable<ChildRequest['variant']>,
  scratch: string,
): Promise<{ rows: number; sourceRows: number; bytes: number; keys: string[] }> {
  mkdirSync(scratch, { recursive: true });
  const fifo = join(scratch, `variant.${process.pid}.${Date.now()}.csv`);
  const parquet = `${fifo}.parquet`;
  const client = new Client({ connectionString: url, application_name: 'freshline' });
  await client.connect();
  try {
    await beginReadSnapshot(client);
    const copy = client.query(copyTo(`COPY (${variant.select}) TO STDOUT WITH (FORMAT csv)`));
    execFileSync('mkfifo', ['-m', '600', fifo]);
    const converting = db.run(
      `COPY (SELECT * FROM read_csv(${quoteLiteral(fifo, 'duckdb')}, header = false, auto_detect = false, delim = ',', quote = '"', escape = '"',
              nullstr = '', allow_quoted_nulls = false, columns = ${variant.spec}${variant.readCsvExtra}))
         TO ${quoteLiteral(parquet, 'duckdb')} (FORMAT parquet, COMPRESSION zstd)`,
    );
    let fd: number | undefined;
    while (fd === undefined) {
      try {
        fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENXIO') throw err;
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    await Promise.all([converting, pipeline(copy, new Socket({ fd, readable: false, writable: true }))]);
    await client.query('COMMIT');
    const [{ n }] = await db.query<{ n: number }>(
      `SELECT count(*)::BIGINT AS n FROM read_parquet(${quoteLiteral(parquet, 'duckdb')})`,
    );
    return { rows: Number(n), sourceRows: Number(n), bytes: statSync(parquet).size, keys: [parquet] };
  } finally {
    await client.end().catch(() => undefined);
    rmSync(fifo, { force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
