/**
 * /proc accounting and the parent/child protocol of the extract benchmarks. Kept apart from
 * bench/common.ts so the worker-like child (bench/extract-child.ts) loads nothing a worker would not.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';

const CLK_TCK = 100; // USER_HZ on Linux: /proc/<pid>/stat times are in 1/100 s

// ---------------------------------------------------------------------------------------------
// /proc accounting
// ---------------------------------------------------------------------------------------------

/** utime + stime of a process (all its threads) in seconds, or null when it is gone. */
export function cpuSeconds(pid: number, tid?: number): number | null {
  try {
    const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // fields 14 and 15 of proc(5)
  } catch {
    return null;
  }
}

/** Per-thread CPU seconds of a process, keyed by "<comm>#<tid>". */
export function threadCpu(pid: number | 'self'): Map<string, { comm: string; tid: number; cpu: number }> {
  const out = new Map<string, { comm: string; tid: number; cpu: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(`${comm}#${tid}`, { comm, tid: Number(tid), cpu: (Number(fields[11]) + Number(fields[12])) / CLK_TCK });
    } catch {
      // thread exited between readdir and read
    }
  }
  return out;
}

/** Busy and total jiffies over all CPUs (from /proc/stat), to report how saturated the box was. */
export function systemCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const idle = v[3] + v[4];
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: (total - idle) / CLK_TCK, total: total / CLK_TCK };
}

/**
 * Sets the nice value of the scheduler autogroup of `pid` (a session leader), when autogroups are on;
 * with them, per-process nice only orders processes within one session.
 */
export function setAutogroupNice(pid: number, nice: number): void {
  try {
    writeFileSync(`/proc/${pid}/autogroup`, String(nice));
  } catch {
    // No autogroup support (or not permitted): plain `nice` is all there is.
  }
}

/**
 * CPU seconds per category of process between the first and the last sample() (every process on the
 * box, classified by the caller from pid and comm). Processes that exit between samples lose at most
 * one sampling interval; ones that start count from their first sighting.
 */
export class CpuByCategory {
  private readonly first = new Map<number, number>();
  private readonly last = new Map<number, { cpu: number; category: string }>();

  constructor(private readonly classify: (pid: number, comm: string) => string) {}

  sample(): void {
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      const pid = Number(name);
      let stat: string;
      try {
        stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      } catch {
        continue;
      }
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cpu = (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
      if (!this.first.has(pid)) this.first.set(pid, cpu);
      this.last.set(pid, { cpu, category: this.classify(pid, comm) });
    }
  }

  totals(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [pid, { cpu, category }] of this.last)
      out[category] = (out[category] ?? 0) + cpu - (this.first.get(pid) ?? cpu);
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Parent/child protocol
// ---------------------------------------------------------------------------------------------

export interface ChildRequest {
  url: string;
  tableName: string;
  window: { start: string; end: string };
  /** Directory for the child's stage and scratch (inside BENCH_DIR). */
  dir: string;
  /** Repeat extracts until SIGTERM (OLTP impact phase) instead of running once. */
  loop?: boolean;
  /** DuckDB converter threads; default 1, what workers/deps.ts opens. */
  converterThreads?: number;
  /** The source's maxReadMBPerSecond for the extract (unset: as configured, i.e. unthrottled). */
  maxReadMBPerSecond?: number;
  /**
   * What-if mode (bench/extract.ts --breakdown): instead of extractTable, only its streaming path
   * (COPY → node → FIFO → DuckDB read_csv → Parquet zstd) with the given read_csv extras, e.g.
   * ", buffer_size = 2097152". `select` and `spec` are the COPY query and read_csv column spec.
   */
  variant?: { select: string; spec: string; readCsvExtra: string };
}

/** What the child reports after each extract (one JSON line prefixed by CHILD_TAG). */
export interface ChildReport {
  iteration: number;
  rows: number;
  sourceRows: number;
  bytes: number;
  /** Parquet parts staged (extractTable splits a window into primary-key chunks of table.chunkRows). */
  parts: number;
  seconds: number;
  /** VmRSS before the first extract (node + tsx + DuckDB converter opened). */
  rssBeforeMB: number;
  /** VmHWM at the end: the process's peak resident set, the worker-memory figure. */
  peakRssMB: number;
  /** Highest VmRSS seen by the 25 ms sampler during the extract (cross-check of VmHWM). */
  sampledMaxRssMB: number;
  /**
   * CPU seconds during the extract: main (JS) thread, and the other threads grouped by name. Threads
   * that appeared while the DuckDB converter was being opened are DuckDB's own workers ("duckdb-worker");
   * a DuckDB statement itself runs on the libuv pool thread that called it (name "node", like V8's).
   */
  cpuMain: number;
  cpuOtherThreads: Record<string, number>;
}

export const CHILD_TAG = '@@bench-child ';

export function cpuCount(): number {
  return readFileSync('/proc/cpuinfo', 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('processor')).length;
}
