import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants, mkdirSync, openSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Client } from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import type { PostgresSourceConfig, SourceTableConfig } from '../../../config/schema';
import { parseDuration } from '../../../config/duration';
import type { ObjectStore } from '../../storage/object-store';
import { qualified, quoteIdent, quoteLiteral } from '../../warehouse/sql';
import type { Warehouse } from '../../warehouse/warehouse';
import type { SourceState } from '../../warehouse/source-state';
import { compareSchemas } from './drift';
import type { Manifest, StagedColumn, Window } from './manifest';
import { hmacExpression, piiKeyJoin, registerPiiKey } from './pii';
import { warehouseType } from './types';

/** Everything extractTable needs; connection URL and HMAC key are resolved secrets, never logged. */
export interface ExtractRequest {
  sourceName: string;
  source: PostgresSourceConfig;
  url: string;
  table: SourceTableConfig;
  window: Window;
  lookbackMs: number;
  /** Key for PII tokens (keyed HMAC-SHA256), so tokens join across tables but cannot be reversed. */
  piiKey: string;
  stage: ObjectStore;
  /** Scratch DuckDB used only to write Parquet. */
  converter: Warehouse;
  /** Local scratch directory for the FIFO and the Parquet file before it is staged. */
  scratchDir: string;
  /** What the last load of this table saw (schema, checksum), or null before the first load. */
  baseline?: SourceState | null;
  /** Load despite breaking drift (an operator accepted the new schema). */
  acceptDrift?: boolean;
}

/** Object key of a table-window's Parquet file: `<source>/<schema>.<table>/dt=<date>/<start>--<end>.parquet`. */
export function stageKey(sourceName: string, table: SourceTableConfig, window: Window): string {
  const compact = (iso: string) => iso.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${sourceName}/${table.schema}.${table.name}/dt=${window.start.slice(0, 10)}/${compact(window.start)}--${compact(window.end)}.parquet`;
}

/**
 * Extracts one table into Parquet in the stage: its changes in the window (incremental), or all of it
 * when its checksum changed (full). Compares the live columns with the last load's first: breaking
 * drift stops here unless accepted. Reads inside one
 * REPEATABLE READ READ ONLY snapshot (count, max cursor and the COPY all see the same data), streams
 * COPY output into the Parquet encoder (constant memory) and masks PII columns before anything is written.
 */
export async function extractTable(req: ExtractRequest): Promise<Manifest> {
  const { table, window } = req;
  if (table.mode === 'cdc') throw new Error(`${table.schema}.${table.name} is a cdc table: use captureChanges, not extractTable`);
  const mode = table.mode;
  const readFrom = new Date(Date.parse(window.start) - req.lookbackMs).toISOString();
  const client = new Client({
    connectionString: req.url,
    application_name: 'freshline',
    statement_timeout: parseDuration(req.source.statementTimeout),
  });
  mkdirSync(req.scratchDir, { recursive: true });
  const fifo = join(req.scratchDir, `${table.schema}.${table.name}.${process.pid}.${Date.now()}.csv`);
  const extractedAt = new Date().toISOString();
  await client.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await client.query(`SET LOCAL lock_timeout = ${parseDuration(req.source.lockTimeout)}`);
    await client.query("SET LOCAL TimeZone = 'UTC'");
    await client.query("SET LOCAL DateStyle = 'ISO, YMD'");
    await client.query("SET LOCAL IntervalStyle = 'iso_8601'");
    await client.query('SET LOCAL extra_float_digits = 3');

    const columns = await readColumns(client, table);
    const drift = req.baseline ? compareSchemas(req.baseline.columns, columns) : null;
    const empty: Manifest = {
      mode, source: req.sourceName, schema: table.schema, table: table.name, window, readFrom, keys: [], rows: 0, sourceRows: 0,
      bytes: 0, schemaHash: schemaHash(columns), columns, primaryKey: table.primaryKey, cursor: table.cursor, maxCursor: null,
      extractedAt, drift, blocked: false, unchanged: false, checksum: null,
    };
    if (drift?.breaking && !req.acceptDrift) {
      // Read nothing: raw keeps the last good schema and data until someone accepts the change.
      await client.query('COMMIT');
      return { ...empty, blocked: true };
    }
    const from = qualified(table.schema, table.name);
    const cursor = quoteIdent(table.cursor);
    let where = '';
    if (mode === 'incremental') {
      // COPY takes no bind parameters; both bounds are ISO strings we produced from Date, quoted as literals.
      where = `WHERE ${cursor} >= ${quoteLiteral(readFrom)}::timestamptz AND ${cursor} < ${quoteLiteral(window.end)}::timestamptz`;
    } else {
      const pk = table.primaryKey.map((c) => `t.${quoteIdent(c)}`).join(', ');
      const { rows: [sum] } = await client.query<{ checksum: string }>(
        `SELECT md5(coalesce(string_agg(md5(t::text), '' ORDER BY ${pk}), '')) AS checksum FROM ${from} AS t`,
      );
      if (req.baseline?.checksum === sum.checksum && !drift) {
        await client.query('COMMIT');
        return { ...empty, checksum: sum.checksum, unchanged: true };
      }
      empty.checksum = sum.checksum;
    }
    const hasCursor = columns.some((c) => c.name === table.cursor);
    const stats = await client.query<{ n: string; max_cursor: Date | null }>(
      `SELECT count(*) AS n, ${hasCursor ? `max(${cursor})` : 'NULL::timestamptz'} AS max_cursor FROM ${from} ${where}`,
    );
    const select = `SELECT ${columns.map((c) => quoteIdent(c.name)).join(', ')} FROM ${from} ${where}`;
    const copy = client.query(copyTo(`COPY (${select}) TO STDOUT WITH (FORMAT csv)`));
    // COPY output flows through a FIFO straight into DuckDB's Parquet writer: PostgreSQL and the
    // encoder work in parallel and no spool file ever holds the window (constant memory and disk).
    execFileSync('mkfifo', ['-m', '600', fifo]);
    const parquet = `${fifo}.parquet`;
    const pii = table.pii.length ? { columns: table.pii, keyId: await registerPiiKey(req.converter, req.piiKey) } : null;
    let encoderFailure: Error | null = null;
    const converting = csvToParquet(req.converter, fifo, parquet, columns, pii);
    // If the encoder fails, stop feeding the pipe and stop waiting for it to open the FIFO.
    converting.catch((err: Error) => {
      encoderFailure = err;
      copy.destroy(err);
    });
    const writer = await openFifoWriter(fifo, () => encoderFailure);
    const copying = pipeline(copy, writer);
    const [rows] = await Promise.all([converting, copying]);
    await client.query('COMMIT');

    const key = stageKey(req.sourceName, table, window);
    const put = await req.stage.putFile(key, parquet);
    const maxCursor = stats.rows[0].max_cursor;
    return {
      ...empty,
      keys: [put.key],
      rows,
      sourceRows: Number(stats.rows[0].n),
      bytes: put.bytes,
      maxCursor: maxCursor ? maxCursor.toISOString() : null,
    };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    await client.end().catch(() => undefined);
    rmSync(fifo, { force: true });
    rmSync(`${fifo}.parquet`, { force: true });
  }
}

async function readColumns(client: Client, table: SourceTableConfig): Promise<StagedColumn[]> {
  const res = await client.query<{ name: string; type: string }>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
       FROM pg_attribute a
      WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [`${quoteIdent(table.schema)}.${quoteIdent(table.name)}`],
  );
  if (res.rows.length === 0) throw new Error(`source table ${table.schema}.${table.name} does not exist or has no columns`);
  const names = new Set(res.rows.map((r) => r.name));
  for (const col of [...table.primaryKey, ...(table.mode === 'incremental' ? [table.cursor] : []), ...table.pii]) {
    if (!names.has(col)) throw new Error(`column '${col}' declared in config is missing from ${table.schema}.${table.name}`);
  }
  return res.rows
    .filter((r) => !table.exclude.includes(r.name))
    .map((r) => ({ name: r.name, sourceType: r.type, type: table.pii.includes(r.name) ? 'VARCHAR' : warehouseType(r.type) }));
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
      return new Socket({ fd: openSync(path, constants.O_WRONLY | constants.O_NONBLOCK), readable: false, writable: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENXIO') throw err;
    }
    const failure = failed();
    if (failure) throw failure;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Encodes the CSV stream arriving on `csv` (a FIFO) as Parquet with explicit types, replacing PII
 * columns by their HMAC tokens on the way (plain values exist only in the encoder's memory); returns
 * the row count.
 */
async function csvToParquet(
  db: Warehouse,
  csv: string,
  parquet: string,
  columns: StagedColumn[],
  pii: { columns: string[]; keyId: string } | null,
): Promise<number> {
  const spec = `{${columns.map((c) => `${quoteLiteral(c.name)}: ${quoteLiteral(c.type)}`).join(', ')}}`;
  const select = columns
    .map((c) => (pii?.columns.includes(c.name) ? `${hmacExpression(c.name)} AS ${quoteIdent(c.name)}` : quoteIdent(c.name)))
    .join(', ');
  await db.run(
    `COPY (SELECT ${select} FROM read_csv(${quoteLiteral(csv)}, header = false, auto_detect = false, delim = ',', quote = '"', escape = '"',
            nullstr = '', allow_quoted_nulls = false, columns = ${spec}) ${pii ? piiKeyJoin(pii.keyId) : ''})
       TO ${quoteLiteral(parquet)} (FORMAT parquet, COMPRESSION zstd)`,
  );
  const rows = await db.query<{ n: number }>(`SELECT count(*)::INTEGER AS n FROM read_parquet(${quoteLiteral(parquet)})`);
  return Number(rows[0].n);
}

/** Stable hash of the staged column list: a different hash means the source schema changed. */
export function schemaHash(columns: StagedColumn[]): string {
  return createHash('sha256').update(columns.map((c) => `${c.name}:${c.sourceType}`).join('\n')).digest('hex').slice(0, 16);
}
