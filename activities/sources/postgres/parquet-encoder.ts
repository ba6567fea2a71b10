import { execFileSync } from 'node:child_process';
import { constants, openSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { quoteIdent, quoteLiteral } from '../../warehouse/sql';
import { DuckDbWarehouse } from '../../warehouse/engines/duckdb';
import type { Warehouse } from '../../warehouse/warehouse';
import { encoderError } from './encoder-error';
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
}): Promise<number> {
  const { db, source, fifo, parquet, csvColumns, pii } = opts;
  const spec = `{${csvColumns.map((c) => `${quoteLiteral(c.name, 'duckdb')}: ${quoteLiteral(c.type, 'duckdb')}`).join(', ')}}`;
  const select = (opts.select ?? maskedSelect(csvColumns, pii)).join(', ');
  execFileSync('mkfifo', ['-m', '600', fifo]);
  try {
    let failure: Error | null = null;
    const encoding = db
      .run(
        `COPY (SELECT ${select} FROM read_csv(${quoteLiteral(fifo, 'duckdb')}, header = false, auto_detect = false, delim = ',', quote = '"', escape = '"',
              nullstr = '', allow_quoted_nulls = false, buffer_size = ${READ_BUFFER_BYTES}, columns = ${spec}) ${pii ? piiKeyJoin(pii.keyId) : ''})
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
  const written = opts.fileSizeBytes ? `${parquet}/*.parquet` : parquet;
  const [{ n }] = await db.query<{ n: number }>(
    `SELECT count(*)::BIGINT AS n FROM read_parquet(${quoteLiteral(written, 'duckdb')})`,
  );
  return Number(n);
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
