/**
 * Shared pieces of the benchmarks in bench/: one throwaway PostgreSQL cluster with the demo schema,
 * fast set-based generation of `shop.orders`, PostgreSQL's own COPY as the baseline, our extract in a
 * separate worker-like child process (bench/extract-child.ts), CPU accounting from /proc, and the
 * summary block every script prints at the end. Not a script itself.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Client, Pool } from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import type { Window } from '../activities/sources/postgres/manifest';
import { warehouseType } from '../activities/sources/postgres/types';
import { qualified, quoteIdent, quoteLiteral } from '../activities/warehouse/sql';
import { getDataset, loadConfig } from '../config/load';
import type { SourceTableConfig } from '../config/schema';
import { createDemoSchema, seedDemoData } from '../infra/demo-oltp/generator';
import { startPostgres, type PgCluster } from '../infra/local/postgres';
import {
  CHILD_TAG,
  cpuCount,
  cpuSeconds,
  setAutogroupNice,
  systemCpu,
  type ChildReport,
  type ChildRequest,
} from './proc';
import { beginReadSnapshot } from '../activities/sources/postgres/extract';

/** All benchmark state lives here (git-ignored). */
export const BENCH_DIR = resolve(__dirname, '..', '.dev', 'bench');
export const MB = 1024 * 1024;
const CHUNK_ROWS = 1_000_000;

/** This process's RSS, sampled every 25 ms: `reset()` starts a phase, `mb()` is its peak so far. */
export function rssSampler(): { reset(): void; mb(): number } {
  let peak = 0;
  setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 25).unref();
  return {
    reset: () => void (peak = 0),
    mb: () => Math.round(Math.max(peak, process.memoryUsage.rss()) / 1024 / 1024),
  };
}

/**
 * The pid of the process listening on TCP `port` (any local address), or null: the socket's inode from
 * /proc/net/tcp{,6}, then the process holding `socket:[inode]` among /proc/<pid>/fd. For servers we spawn
 * through a helper that does not expose its child (and a CLI may exec or fork the real server anyway).
 */
export function pidListeningOn(port: number): number | null {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue; // no IPv6 on this box
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is HEXIP:HEXPORT, st 0A is LISTEN, the 10th column is the inode.
      if (f.length > 9 && f[3] === '0A' && parseInt(f[1].split(':')[1], 16) === port) inodes.add(`socket:[${f[9]}]`);
    }
  }
  if (inodes.size === 0) return null;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${name}/fd`);
    } catch {
      continue; // another user's process, or gone
    }
    for (const fd of fds) {
      try {
        if (inodes.has(readlinkSync(`/proc/${name}/fd/${fd}`))) return Number(name);
      } catch {
        // fd closed between readdir and readlink
      }
    }
  }
  return null;
}

/** Resident set size of a process in MB (VmRSS from /proc/<pid>/status), or null when it is gone. */
export function rssMbOf(pid: number): number | null {
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? null : Math.round(Number(kb) / 1024);
  } catch {
    return null;
  }
}

export const log = (msg: string): void => {
  process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
};

/** The exact command line of this run, as someone would retype it from the repository root. */
export function commandLine(): string {
  const script = process.argv[1] ? process.argv[1].replace(`${resolve(__dirname, '..')}/`, '') : '?';
  return ['npx tsx', script, ...process.argv.slice(2)].join(' ');
}

/** "1000000,10000000" or "1M,10M" → [1000000, 10000000], ascending. */
export function parseSizes(text: string): number[] {
  const sizes = text.split(',').map((part) => {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*$/.exec(part);
    if (!m) throw new Error(`--rows: '${part}' is not a row count (e.g. 1000000 or 1M)`);
    const n = Math.round(Number(m[1]) * ({ '': 1, k: 1e3, m: 1e6 } as Record<string, number>)[m[2].toLowerCase()]);
    if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--rows: '${part}' must be a positive integer`);
    return n;
  });
  return [...new Set(sizes)].sort((a, b) => a - b);
}

export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Prints the block meant to be pasted into a note. */
export function printSummary(title: string, lines: string[]): void {
  const body = [`${title}`, `command: ${commandLine()}`, `host: ${hostLine()}`, ...lines];
  const width = Math.max(...body.map((l) => l.length));
  const rule = '='.repeat(Math.min(width, 110));
  process.stdout.write(`\n${rule}\n${body.join('\n')}\n${rule}\n`);
}

function hostLine(): string {
  const cpus = readFileSync('/proc/cpuinfo', 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('processor')).length;
  const memKb = Number(/MemTotal:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0);
  return `${cpus} cores, ${(memKb / 1024 / 1024).toFixed(0)} GB RAM, node ${process.version}, ${new Date().toISOString()}`;
}

/**
 * Waits until the box is quiet (under `maxCores` busy over a 1 s sample, anything counts: other
 * people's jobs, our cluster's checkpointer or autovacuum) or `maxWaitS` passed; returns the last
 * sample so the caller can flag a measurement taken on a busy box. 2 cores leave no headroom.
 */
export async function waitForQuiet(maxCores = 0.25, maxWaitS = 180): Promise<number> {
  const started = performance.now();
  let said = false;
  for (;;) {
    const s0 = systemCpu();
    await new Promise((r) => setTimeout(r, 1000));
    const s1 = systemCpu();
    const busy = ((s1.busy - s0.busy) / (s1.total - s0.total)) * cpuCount();
    if (busy < maxCores) return busy;
    if ((performance.now() - started) / 1000 > maxWaitS) {
      log(`  box still busy (${busy.toFixed(2)} cores) after ${maxWaitS} s; measuring anyway`);
      return busy;
    }
    if (!said) log(`  waiting for the box to be quiet (${busy.toFixed(2)} cores busy before we start)`);
    said = true;
  }
}

// ---------------------------------------------------------------------------------------------
// Cluster and data
// ---------------------------------------------------------------------------------------------

export interface BenchDb {
  pg: PgCluster;
  pool: Pool;
  table: SourceTableConfig;
  /** Stops the pool and the cluster (idempotent). */
  close(): Promise<void>;
}

/** Starts one throwaway cluster under .dev/bench and applies + seeds the demo schema's small tables. */
export async function startBenchDb(tableName = 'orders'): Promise<BenchDb> {
  const table = getDataset(loadConfig(), 'sales_core').tables.find((t) => t.name === tableName);
  if (!table) throw new Error(`sales_core has no table '${tableName}'`);
  if (table.schema !== 'shop' || table.name !== 'orders') throw new Error('the generator only grows shop.orders');
  const pg = await startPostgres({ baseDir: BENCH_DIR, log });
  const pool = new Pool({ connectionString: pg.url, max: 4 });
  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      await pool.end().catch(() => undefined);
      await pg.stop();
    })());
  try {
    await createDemoSchema(pool);
    // Reference data (stores, products) and 1000 customers through the demo generator; the one order
    // it also writes (with its lines and payment) is order_id 1 and keeps child tables consistent.
    await seedDemoData(pool, { customers: 1000, orders: 1, seed: 1 });
  } catch (err) {
    await close();
    throw err;
  }
  return { pg, pool, table, close };
}

/**
 * Grows shop.orders to exactly `target` rows with set-based SQL, 1M rows per INSERT … SELECT
 * generate_series statement (deterministic: setseed per chunk), then VACUUM (FREEZE, ANALYZE) so that
 * every later reader sees an all-visible table with hint bits set (otherwise the first reader, the
 * baseline, would pay for writing them). FK and other triggers are disabled during the bulk insert
 * only; the generated customer_id/store_id values are valid references, so the FKs hold.
 */
export async function growOrders(
  pool: Pool,
  target: number,
  anchor: Date,
): Promise<{ inserted: number; seconds: number }> {
  const started = performance.now();
  const client = await pool.connect();
  try {
    const { rows } = await client.query<{ n: string; max_id: string | null }>(
      'SELECT count(*) AS n, max(order_id) AS max_id FROM shop.orders',
    );
    const have = Number(rows[0].n);
    if (have > target) throw new Error(`shop.orders already has ${have} rows, more than ${target}`);
    if (have === target) return { inserted: 0, seconds: 0 };
    const cust = await client.query<{ lo: string; n: string }>(
      'SELECT min(customer_id) AS lo, count(*) AS n FROM shop.customers',
    );
    const custLo = Number(cust.rows[0].lo);
    const custN = Number(cust.rows[0].n);
    let next = Number(rows[0].max_id ?? 0) + 1;
    let left = target - have;
    await client.query('ALTER TABLE shop.orders DISABLE TRIGGER ALL');
    try {
      while (left > 0) {
        const n = Math.min(CHUNK_ROWS, left);
        const t = performance.now();
        await client.query('SELECT setseed($1)', [((next * 2654435761) % 2 ** 31) / 2 ** 31]);
        await client.query(INSERT_ORDERS, [next, next + n - 1, custLo, custN, anchor.toISOString()]);
        log(
          `  orders ${fmtInt(next)}..${fmtInt(next + n - 1)} inserted in ${((performance.now() - t) / 1000).toFixed(1)} s`,
        );
        next += n;
        left -= n;
      }
    } finally {
      await client.query('ALTER TABLE shop.orders ENABLE TRIGGER ALL');
    }
    // The identity must continue after the generated ids, or the demo's change stream would collide.
    await client.query(
      `SELECT setval(pg_get_serial_sequence('shop.orders', 'order_id'), (SELECT max(order_id) FROM shop.orders))`,
    );
    const t = performance.now();
    await client.query('VACUUM (FREEZE, ANALYZE) shop.orders');
    log(`  VACUUM (FREEZE, ANALYZE) shop.orders in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    return { inserted: target - have, seconds: (performance.now() - started) / 1000 };
  } finally {
    client.release();
  }
}

// $1..$2 order ids, $3 first customer id, $4 customers, $5 anchor ("now" of the history).
// Values follow the demo generator's shapes: 30 days of history, online stores (11, 12) three times as
// busy as a physical store, money in integer cents written as exact numeric(12,2), 8% tax, shipping
// 4.99 online under 50.00, status by age, updated_at after ordered_at by up to 5 days (never after now).
const INSERT_ORDERS = `
INSERT INTO shop.orders (order_id, order_number, customer_id, store_id, channel, status, ordered_at, order_date,
                         currency, subtotal, discount, tax, shipping, total, created_at, updated_at)
SELECT id, 'SO-' || lpad(id::text, greatest(8, length(id::text)), '0'), customer_id, store_id,
       CASE WHEN store_id > 10 THEN 'online' ELSE 'store' END, status, ordered_at, (ordered_at AT TIME ZONE 'UTC')::date,
       'USD', sub_c / 100.0, disc_c / 100.0, tax_c / 100.0, ship_c / 100.0, (sub_c - disc_c + tax_c + ship_c) / 100.0,
       ordered_at, updated_at
FROM (
  SELECT *, CASE WHEN store_id > 10 AND sub_c - disc_c < 5000 THEN 499 ELSE 0 END AS ship_c,
            floor(((sub_c - disc_c) * 8 + 50) / 100.0)::bigint AS tax_c
  FROM (
    SELECT id, customer_id, store_id, status, ordered_at, updated_at, sub_c,
           CASE WHEN r_disc < 0.25 THEN floor((sub_c * (5 * (1 + floor(r_disc * 12)::int)) + 50) / 100.0)::bigint ELSE 0 END AS disc_c
    FROM (
      SELECT id,
             $3::bigint + floor(r_cust * $4::int)::bigint AS customer_id,
             CASE WHEN r_store < 0.375 THEN 11 + floor(r_store / 0.375 * 2)::int
                  ELSE 1 + floor((r_store - 0.375) / 0.625 * 10)::int END AS store_id,
             CASE WHEN r_status < 0.03 THEN 'cancelled'
                  WHEN r_status < 0.05 AND age_d > 2 THEN 'refunded'
                  WHEN age_d < 0.5 THEN CASE WHEN r_status < 0.5 THEN 'placed' ELSE 'paid' END
                  WHEN age_d < 3 THEN 'shipped'
                  ELSE 'delivered' END AS status,
             $5::timestamptz - age_d * interval '1 day' AS ordered_at,
             $5::timestamptz - age_d * interval '1 day' + r_lag * least(age_d, 5) * interval '1 day' AS updated_at,
             (99 + floor(power(r_sub, 2) * 20000))::bigint AS sub_c,
             r_disc
      FROM (
        SELECT id, random() * 30 AS age_d, random() AS r_cust, random() AS r_store, random() AS r_status,
               random() AS r_sub, random() AS r_disc, random() AS r_lag
        FROM generate_series($1::bigint, $2::bigint) AS id
      ) g
    ) o
  ) d
) t`;

/** [min(updated_at), max(updated_at) + 1 s): a window that covers every row of the table. */
export async function fullWindow(pool: Pool, table: SourceTableConfig): Promise<{ window: Window; rows: number }> {
  const cursor = quoteIdent(table.cursor);
  const { rows } = await pool.query<{ n: string; lo: Date; hi: Date }>(
    `SELECT count(*) AS n, min(${cursor}) AS lo, max(${cursor}) AS hi FROM ${qualified(table.schema, table.name)}`,
  );
  return {
    rows: Number(rows[0].n),
    window: {
      start: new Date(rows[0].lo.getTime()).toISOString(),
      end: new Date(rows[0].hi.getTime() + 1000).toISOString(),
    },
  };
}

/** The COPY statement our extract issues for this table and window (same columns, same predicate). */
export async function copySelect(pool: Pool, table: SourceTableConfig, window: Window): Promise<string> {
  const { rows } = await pool.query<{ name: string }>(
    `SELECT attname AS name FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    [qualified(table.schema, table.name)],
  );
  const columns = rows.map((r) => r.name).filter((c) => !table.exclude.includes(c));
  const cursor = quoteIdent(table.cursor);
  return (
    `SELECT ${columns.map(quoteIdent).join(', ')} FROM ${qualified(table.schema, table.name)} ` +
    `WHERE ${cursor} >= ${quoteLiteral(window.start, 'postgres')}::timestamptz AND ${cursor} < ${quoteLiteral(window.end, 'postgres')}::timestamptz`
  );
}

/** read_csv `columns` spec with the types extract stages (activities/sources/postgres/types.ts); no PII columns. */
export async function csvColumnSpec(pool: Pool, table: SourceTableConfig): Promise<string> {
  const { rows } = await pool.query<{ name: string; type: string }>(
    `SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute
      WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped AND NOT (attname = ANY($2)) ORDER BY attnum`,
    [qualified(table.schema, table.name), table.exclude],
  );
  if (table.pii.length) throw new Error(`${table.name} has PII columns; the streaming what-if does not mask them`);
  return `{${rows.map((c) => `${quoteLiteral(c.name, 'duckdb')}: ${quoteLiteral(warehouseType(c.type), 'duckdb')}`).join(', ')}}`;
}

export interface CopyBaseline {
  rows: number;
  bytes: number;
  seconds: number;
  /** CPU seconds of the PostgreSQL backend that served the COPY. */
  backendCpu: number;
  /** Cores busy with anything but the backend and this process during the COPY (other load on the box). */
  otherCores: number;
}

/**
 * PostgreSQL's own `COPY (SELECT …) TO STDOUT WITH (FORMAT csv)` into a Writable that discards the
 * bytes, in the same kind of session our extract opens (REPEATABLE READ READ ONLY, UTC, ISO dates).
 */
export async function copyBaseline(url: string, select: string): Promise<CopyBaseline> {
  const client = new Client({ connectionString: url, application_name: 'bench-copy-baseline' });
  await client.connect();
  try {
    await beginReadSnapshot(client);
    const pid = Number((await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid);
    let bytes = 0;
    const cpu0 = cpuSeconds(pid) ?? 0;
    const sys0 = systemCpu();
    const self0 = process.cpuUsage();
    const t = performance.now();
    const copy = client.query(copyTo(`COPY (${select}) TO STDOUT WITH (FORMAT csv)`));
    await pipeline(
      copy,
      new Writable({
        write(chunk: Buffer, _enc, done) {
          bytes += chunk.length;
          done();
        },
      }),
    );
    const seconds = (performance.now() - t) / 1000;
    const backendCpu = (cpuSeconds(pid) ?? cpu0) - cpu0;
    const sys1 = systemCpu();
    const self = process.cpuUsage(self0);
    const elapsed = (sys1.total - sys0.total) / cpuCount();
    const otherCores = Math.max(0, sys1.busy - sys0.busy - backendCpu - (self.user + self.system) / 1e6) / elapsed;
    await client.query('COMMIT');
    return { rows: copy.rowCount, bytes, seconds, backendCpu, otherCores };
  } finally {
    await client.end().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// Our extract in a child process
// ---------------------------------------------------------------------------------------------

export interface ChildRun {
  report: ChildReport;
  /** CPU seconds of the PostgreSQL backend serving the extract (count query + COPY), sampled from /proc. */
  backendCpu: number | null;
  /** Average busy cores of the whole box from the child's "ready" to its report. */
  busyCores: number;
  /** Of those, cores busy with anything but the child, the backend and this process (other load on the box). */
  otherCores: number;
}

/**
 * Runs bench/extract-child.ts once in its own node process (tsx's CommonJS hook, no wrapper process)
 * and returns its report plus the PostgreSQL backend's CPU, which the parent samples from /proc.
 */
export async function runExtractChild(req: ChildRequest, pool: Pool, opts: { nice?: number } = {}): Promise<ChildRun> {
  let backendPid: number | null = null;
  let backendCpu0 = 0;
  let backendCpuLast = 0;
  let sys0 = systemCpu();
  let self0 = process.cpuUsage();
  let t0 = performance.now();
  let window: { busy: number; total: number; self: number; seconds: number } | undefined;
  const child = startExtractChild(req, {
    ...opts,
    onReady: () => {
      sys0 = systemCpu();
      self0 = process.cpuUsage();
      t0 = performance.now();
    },
    onReport: () => {
      const sys1 = systemCpu();
      const self = process.cpuUsage(self0);
      window ??= {
        busy: sys1.busy - sys0.busy,
        total: sys1.total - sys0.total,
        self: (self.user + self.system) / 1e6,
        seconds: (performance.now() - t0) / 1000,
      };
    },
  });
  const sampler = setInterval(() => {
    if (backendPid === null) {
      pool
        .query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE application_name = 'freshline' LIMIT 1")
        .then((r) => {
          if (backendPid === null && r.rows[0]) {
            backendPid = r.rows[0].pid;
            backendCpu0 = cpuSeconds(backendPid) ?? 0;
            backendCpuLast = backendCpu0;
          }
        })
        .catch(() => undefined);
    } else {
      const v = cpuSeconds(backendPid);
      if (v !== null) backendCpuLast = v;
    }
  }, 50);
  try {
    const reports = await child.done;
    if (reports.length === 0 || !window) throw new Error('extract child reported nothing');
    const report = reports[0];
    const backendCpu = backendPid === null ? null : backendCpuLast - backendCpu0;
    const childCpu = report.cpuMain + Object.values(report.cpuOtherThreads).reduce((a, b) => a + b, 0);
    const cores = cpuCount();
    const elapsed = window.total / cores;
    return {
      report,
      backendCpu,
      busyCores: window.busy / elapsed,
      otherCores: Math.max(0, window.busy - childCpu - (backendCpu ?? 0) - window.self) / elapsed,
    };
  } finally {
    clearInterval(sampler);
  }
}

export interface ChildHandle {
  pid: number;
  /** Resolves once the child has opened its converter and is about to start its first extract. */
  ready: Promise<void>;
  /** Resolves with every report once the child exits 0 (or after stop() in loop mode). */
  done: Promise<ChildReport[]>;
  reports: ChildReport[];
  stop(): void;
}

export function startExtractChild(
  req: ChildRequest,
  opts: { nice?: number; onReady?: () => void; onReport?: (r: ChildReport) => void } = {},
): ChildHandle {
  const script = join(__dirname, 'extract-child.ts');
  const args = ['--require', require.resolve('tsx/cjs'), script, JSON.stringify(req)];
  const [cmd, argv] = opts.nice
    ? ['nice', ['-n', String(opts.nice), process.execPath, ...args]]
    : [process.execPath, args];
  // Own session, hence own scheduler autogroup (Linux groups CPU shares by session, and every
  // PostgreSQL backend is a session of its own): the worker competes like a separate program, not
  // inside this script's share alongside pgbench's client. `nice` is applied to that autogroup too.
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  if (opts.nice) setAutogroupNice(child.pid!, opts.nice);
  const reports: ChildReport[] = [];
  let stopping = false;
  let stderr = '';
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((res) => (onReady = res));
  let buf = '';
  child.stdout!.setEncoding('utf8').on('data', (data: string) => {
    buf += data;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line === `${CHILD_TAG}ready`) {
        opts.onReady?.();
        onReady();
      } else if (line.startsWith(CHILD_TAG)) {
        const report = JSON.parse(line.slice(CHILD_TAG.length)) as ChildReport;
        opts.onReport?.(report);
        reports.push(report);
      } else if (line.trim()) log(`  child: ${line}`);
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (data: string) => (stderr = (stderr + data).slice(-4000)));
  const done = new Promise<ChildReport[]>((res, rej) => {
    child.on('error', rej);
    child.on('exit', (code, signal) => {
      if (code === 0 || (stopping && (signal === 'SIGTERM' || code === 143))) res(reports);
      else rej(new Error(`extract child exited with ${code ?? signal}: ${stderr.trim()}`));
    });
  });
  return {
    // With `nice` in front the pid is nice's until it execs node, which keeps the pid.
    pid: child.pid!,
    ready,
    done,
    reports,
    stop() {
      stopping = true;
      child.kill('SIGTERM');
    },
  };
}
