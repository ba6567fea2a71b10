import { execFileSync } from 'node:child_process';
import { constants, openSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { quoteIdent, quoteLiteral } from '../../warehouse/sql';
import { DuckDbWarehouse } from '../../warehouse/engines/duckdb';
import type { Warehouse } from '../../warehouse/warehouse';
import { parse as parseCsv } from 'csv-parse/sync';
import { encoderError, rejectReason } from './encoder-error';
import type { SourceReject } from './manifest';
import { hmacExpression, piiKeyJoin } from './pii';
import { throttle } from './throttle';

/**
 * DuckDB's CSV reader fills its whole buffer (32 MB by default) from the pipe before parsing, while
 * nothing drains the pipe and PostgreSQL blocks: the two sides take turns instead of overlapping.
 * 2 MB (DuckDB's maximum line size) keeps both busy: 10M rows 28.7 s → 16.7 s, peak RSS ~220 MB (bench/).
 */
const READ_BUFFER_BYTES = 2 * 1024 * 1024;

/**
 * The in-memory DuckDB a worker encodes extracts with. One thread keeps pace with one COPY stream
 * (bench/extract.ts); 256 MB bounds it; flushing the allocator after each task returns memory to the
 * OS, so peak RSS stays flat whatever the table size (1M → 5M rows: 211 → 211 MB instead of growing).
 */
export function openParquetConverter(threads = 1): Promise<DuckDbWarehouse> {
  return DuckDbWarehouse.open(':memory:', { threads, memoryLimit: '256MB', flushThreshold: '16MB' });
}

/** PII columns to tokenise and the registered key to do it with (see pii.ts). */
export type PiiMask = { columns: string[]; keyId: string } | null;

/** Output expressions for `columns`, with PII columns replaced by their HMAC tokens. */
export function maskedSelect(columns: { name: string }[], pii: PiiMask): string[] {
  return columns.map((c) =>
    pii?.columns.includes(c.name) ? `${hmacExpression(c.name)} AS ${quoteIdent(c.name)}` : quoteIdent(c.name),
  );
}

/** At most this many rejected rows are listed per encode (and per manifest); the count stays exact. */
export const MAX_LISTED_REJECTS = 1000;

/** What one encode staged, and the rows it could not (values the warehouse type cannot hold). */
export interface EncodeResult {
  rows: number;
  /** Rejected rows: where and why, keyed by primary key; at most MAX_LISTED_REJECTS listed. */
  rejects: SourceReject[];
  /** All rejected rows, listed or not. */
  rejected: number;
}

let rejectScans = 0;

/** The reject with its PII key columns withheld (a key declared PII is as private as the rest of the row). */
export function withheldKey(reject: SourceReject, pii: string[]): SourceReject {
  return {
    ...reject,
    key: Object.fromEntries(Object.entries(reject.key).map(([k, v]) => [k, pii.includes(k) ? null : v])),
  };
}

/**
 * Streams CSV text from `source` through a FIFO into DuckDB's Parquet writer and returns the row count.
 * The producer and the encoder run in parallel and no spool file ever holds the rows (constant memory
 * and disk); plain PII exists only in the encoder's memory. `csvColumns` types the CSV in order,
 * `select` says what the file keeps (default: every column, PII masked).
 */
export async function encodeCsvToParquet(opts: {
  db: Warehouse;
  source: Readable;
  fifo: string;
  parquet: string;
  csvColumns: { name: string; type: string }[];
  pii: PiiMask;
  select?: string[];
  /** Caps how fast `source` is read (bytes/s); unset reads as fast as the encoder goes. */
  maxBytesPerSecond?: number;
  /**
   * Split the output into files of about this size: `parquet` is then a directory (which must not
   * exist) of data_0.parquet, data_1.parquet, … in row order (one writer thread keeps the order).
   */
  fileSizeBytes?: number;
  /**
   * Quarantine rows holding a value their column's type cannot (numeric NaN, ±Infinity, beyond
   * DECIMAL(38,10)) instead of failing: they are left out and listed by these key columns. Unset: fail.
   */
  rejectKeys?: string[];
}): Promise<EncodeResult> {
  const { db, source, fifo, parquet, csvColumns, pii } = opts;
  // DuckDB keeps rejected lines (their full text, PII included) in these in-memory tables; only line,
  // column and key are read back, and the tables are dropped before anything leaves this function.
  const scan = opts.rejectKeys ? `freshline_rejects_${process.pid}_${++rejectScans}` : null;
  const rejectsOption = scan
    ? `, store_rejects = true, rejects_table = ${quoteLiteral(`${scan}_errors`, 'duckdb')}, rejects_scan = ${quoteLiteral(`${scan}_scans`, 'duckdb')}`
    : '';
  const spec = `{${csvColumns.map((c) => `${quoteLiteral(c.name, 'duckdb')}: ${quoteLiteral(c.type, 'duckdb')}`).join(', ')}}`;
  const select = (opts.select ?? maskedSelect(csvColumns, pii)).join(', ');
  execFileSync('mkfifo', ['-m', '600', fifo]);
  // The source may fail before the pipeline below listens (PostgreSQL gone while DuckDB opens the FIFO), and
  // pg-copy-streams emits that error without destroying its stream: destroy it with the error, so the error is
  // never unhandled and the pipeline fails at once instead of waiting on a stream that will not end.
  source.on('error', (err: Error) => {
    if (!source.destroyed) source.destroy(err);
  });
  try {
    let failure: Error | null = null;
    const encoding = db
      .run(
        `COPY (SELECT ${select} FROM read_csv(${quoteLiteral(fifo, 'duckdb')}, header = false, auto_detect = false, delim = ',', quote = '"', escape = '"',
              nullstr = '', allow_quoted_nulls = false, buffer_size = ${READ_BUFFER_BYTES}, columns = ${spec}${rejectsOption}) ${pii ? piiKeyJoin(pii.keyId) : ''})
         TO ${quoteLiteral(parquet, 'duckdb')} (FORMAT parquet, COMPRESSION zstd${opts.fileSizeBytes ? `, FILE_SIZE_BYTES ${Math.floor(opts.fileSizeBytes)}` : ''})`,
      )
      .catch((err: unknown) => {
        throw encoderError(err, csvColumns);
      });
    // If the encoder fails, stop the producer and stop waiting for the encoder to open the FIFO.
    encoding.catch((err: Error) => {
      failure = err;
      source.destroy(err);
    });
    const writer = await openFifoWriter(fifo, () => failure);
    const streamed = opts.maxBytesPerSecond
      ? pipeline(source, throttle(opts.maxBytesPerSecond), writer)
      : pipeline(source, writer);
    await Promise.all([encoding, streamed]);
  } finally {
    rmSync(fifo, { force: true });
  }
  const { rejects, rejected } = scan
    ? await readRejects(db, scan, csvColumns, opts.rejectKeys ?? [])
    : { rejects: [], rejected: 0 };
  const written = opts.fileSizeBytes ? `${parquet}/*.parquet` : parquet;
  const [{ n }] = await db.query<{ n: number }>(
    `SELECT count(*)::BIGINT AS n FROM read_parquet(${quoteLiteral(written, 'duckdb')})`,
  );
  return { rows: Number(n), rejects, rejected };
}

/**
 * Reads back and drops one scan's rejects. A value the type cannot hold (a CAST reject) is quarantined;
 * anything else means the COPY stream itself is malformed, which no row can be blamed for: that fails.
 */
async function readRejects(
  db: Warehouse,
  scan: string,
  csvColumns: { name: string; type: string }[],
  keyColumns: string[],
): Promise<{ rejects: SourceReject[]; rejected: number }> {
  const errors = quoteIdent(`${scan}_errors`);
  try {
    const rows = await db.query<{ line: number; column_name: string | null; error_type: string; csv_line: string }>(
      `SELECT line::BIGINT AS line, column_name, error_type::VARCHAR AS error_type, csv_line FROM ${errors} ORDER BY line`,
    );
    const malformed = rows.find((r) => r.error_type !== 'CAST');
    if (malformed)
      throw encoderError(new Error(`CSV Error on Line: ${malformed.line} (${malformed.error_type})`), csvColumns);
    // One reject per line (a row with two bad values is one quarantined row, named by its first column).
    const byLine = new Map<number, (typeof rows)[number]>();
    for (const r of rows) if (!byLine.has(Number(r.line))) byLine.set(Number(r.line), r);
    const keyIndex = keyColumns.map((k) => csvColumns.findIndex((c) => c.name === k));
    const rejects = [...byLine.values()].slice(0, MAX_LISTED_REJECTS).map((r): SourceReject => {
      const fields = (parseCsv(r.csv_line, { relaxColumnCount: true }) as string[][])[0] ?? [];
      const column = r.column_name ?? '';
      const type = csvColumns.find((c) => c.name === column)?.type ?? 'column';
      return {
        line: Number(r.line),
        column,
        key: Object.fromEntries(keyColumns.map((k, i) => [k, keyIndex[i] >= 0 ? (fields[keyIndex[i]] ?? null) : null])),
        reason: rejectReason(type),
      };
    });
    return { rejects, rejected: byLine.size };
  } finally {
    await db.run(`DROP TABLE IF EXISTS ${errors}`);
    await db.run(`DROP TABLE IF EXISTS ${quoteIdent(`${scan}_scans`)}`);
  }
}

/**
 * Opens the FIFO's write end once the encoder has opened its read end. Bytes written to a FIFO that
 * no reader holds are lost when the writer closes, so waiting for the reader is what makes this safe;
 * O_NONBLOCK makes open() fail with ENXIO instead of parking one of libuv's threadpool threads (which
 * DuckDB needs) until then, and a net.Socket over the fd writes through the event loop.
 */
async function openFifoWriter(path: string, failed: () => Error | null): Promise<Socket> {
  for (;;) {
    try {
      return new Socket({
        fd: openSync(path, constants.O_WRONLY | constants.O_NONBLOCK),
        readable: false,
        writable: true,
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENXIO') throw err;
    }
    const failure = failed();
    if (failure) throw failure;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
