import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import type { PostgresSourceConfig, SourceTableConfig } from '../../../config/schema';
import { parseDuration } from '../../../config/duration';
import type { ObjectStore } from '../../storage/object-store';
import { qualified, quoteIdent, quoteLiteral } from '../../warehouse/sql';
import type { Warehouse } from '../../warehouse/warehouse';
import type { SourceState } from '../../warehouse/audit/source-state';
import { livePartitionKeys, type PartitionBy } from '../../warehouse/partition-keys';
import { sourceError } from './connection';
import { compareSchemas, holdUnlistedColumns } from './drift';
import type { Manifest, SourceReject, StagedColumn, Window } from './manifest';
import { encodeCsvToParquet, MAX_LISTED_REJECTS, withheldKey } from './parquet-encoder';
import { registerPiiKey } from './pii';
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
  /** Reload the window as a business-date partition (table.businessDate), not as a cursor window. */
  reload?: boolean;
  /** The parent a `partitionOf` table is reloaded through (same dataset). */
  parent?: SourceTableConfig;
  /**
   * Reload: the warehouse holding raw, asked which keys it has live in the partition, so keys the source
   * no longer has (hard deletes, which a cursor never sees) are staged as deletions.
   */
  warehouse?: Warehouse;
}

/** Object key prefix of a table-window's Parquet parts: `<source>/<schema>.<table>/dt=<date>/<start>--<end>`. */
export function stagePrefix(sourceName: string, table: SourceTableConfig, window: Window): string {
  const compact = (iso: string) => iso.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${sourceName}/${table.schema}.${table.name}/dt=${window.start.slice(0, 10)}/${compact(window.start)}--${compact(window.end)}`;
}

/** One staged chunk (a primary-key range of the window), as heartbeated and returned. */
export interface ChunkResult {
  index: number;
  /** The chunk's Parquet files in the stage, in row order (split at the table's fileSizeMB). */
  keys: string[];
  rows: number;
  sourceRows: number;
  bytes: number;
  maxCursor: string | null;
  /** Rows of the chunk left out of the stage (values the warehouse type cannot hold), listed by key. */
  rejects?: SourceReject[];
  rejected?: number;
}

/** Progress heartbeated after every chunk: a retried activity skips the chunks listed here. */
export interface ExtractProgress {
  schemaHash: string;
  chunks: ChunkResult[];
}

/** Hooks the activity gives the extractor: durable progress, and a fault hook for tests. */
export interface ExtractHooks {
  /** Progress of an earlier attempt of the same activity (from its last heartbeat). */
  resume?: ExtractProgress | null;
  /** Called after each staged chunk; the activity heartbeats it. */
  onProgress?: (progress: ExtractProgress) => void;
  /** Called before each chunk with its index (tests inject failures here). */
  beforeChunk?: (index: number) => void | Promise<void>;
}

type Tx = Pick<Client, 'query'>;

/**
 * Extracts one table into Parquet in the stage: its changes in the window (incremental), or all of it
 * when its checksum changed (full). Compares the live columns with the last load's first: breaking
 * drift stops here unless accepted.
 *
 * Incremental windows are split into primary-key ranges of about `chunkRows` rows. Each chunk is read
 * in its own short REPEATABLE READ READ ONLY transaction (count, max cursor and COPY see one snapshot;
 * no transaction is held across chunks, so the source never keeps old row versions alive for the whole
 * window), streamed into the Parquet encoder (constant memory) with PII masked before anything is
 * written, staged, and heartbeated: a retry resumes after the last staged chunk.
 *
 * Every error leaving it goes through `sourceError`: no connection URL or password in it, and a failure to
 * connect names the source and its secret.
 */
export async function extractTable(req: ExtractRequest, hooks: ExtractHooks = {}): Promise<Manifest> {
  try {
    return await extractTableUnscrubbed(req, hooks);
  } catch (err) {
    throw sourceError(err, req.url, { secret: req.source.urlSecret, source: req.sourceName });
  }
}

async function extractTableUnscrubbed(req: ExtractRequest, hooks: ExtractHooks): Promise<Manifest> {
  const { table, window } = req;
  if (table.mode === 'cdc')
    throw new Error(`${table.schema}.${table.name} is a cdc table: use captureChanges, not extractTable`);
  const partition = req.reload ? reloadPartition(req) : null;
  // A reload reads exactly its business-date partition: no lookback overlap needed.
  const readFrom = partition ? window.start : new Date(Date.parse(window.start) - req.lookbackMs).toISOString();
  const rowsRead = partition ? partitionWhere(req, partition) : windowWhere(table.cursor, readFrom, window.end);
  const client = connectionFor(req);
  mkdirSync(req.scratchDir, { recursive: true });
  const extractedAt = new Date().toISOString();
  const from = qualified(table.schema, table.name);
  const cursor = quoteIdent(table.cursor);
  try {
    await client.connect();
  } catch (err) {
    throw sourceError(err, req.url, { secret: req.source.urlSecret, source: req.sourceName, connecting: true });
  }
  try {
    const plan = await snapshot(client, req.source, async () => {
      const columns = await readColumns(client, table);
      const drift = holdUnlistedColumns(req.baseline ? compareSchemas(req.baseline.columns, columns) : null, table);
      const manifest: Manifest = {
        mode: table.mode as Manifest['mode'],
        source: req.sourceName,
        schema: table.schema,
        table: table.name,
        window,
        readFrom,
        keys: [],
        rows: 0,
        sourceRows: 0,
        bytes: 0,
        schemaHash: schemaHash(columns),
        columns,
        primaryKey: table.primaryKey,
        cursor: table.cursor,
        maxCursor: null,
        extractedAt,
        drift,
        blocked: false,
        unchanged: false,
        checksum: null,
      };
      // Breaking drift: read nothing; raw keeps the last good schema and data until someone accepts it.
      // Unlisted new columns of a PII table are held whatever acceptDrift says: only config can list them.
      if ((drift?.breaking && !req.acceptDrift) || drift?.held?.length)
        return { manifest: { ...manifest, blocked: true }, ranges: [] };
      if (table.mode === 'full') {
        const pk = table.primaryKey.map((c) => `t.${quoteIdent(c)}`).join(', ');
        const {
          rows: [sum],
        } = await client.query<{ checksum: string }>(
          `SELECT md5(coalesce(string_agg(md5(t::text), '' ORDER BY ${pk}), '')) AS checksum FROM ${from} AS t`,
        );
        if (req.baseline?.checksum === sum.checksum && !drift)
          return { manifest: { ...manifest, checksum: sum.checksum, unchanged: true }, ranges: [] };
        // Small reference tables: one chunk, read in this same snapshot as the checksum.
        const chunk = await copyChunk(client, req, columns, 0, '');
        return { manifest: { ...manifest, checksum: sum.checksum }, ranges: [], chunk };
      }
      return {
        manifest,
        ranges: await planRanges(client, table, rowsRead),
      };
    });
    const chunks = plan.chunk ? [plan.chunk] : [];
    const resumed = hooks.resume?.schemaHash === plan.manifest.schemaHash ? hooks.resume.chunks : [];
    for (const [index, range] of plan.ranges.entries()) {
      const done = resumed.find((c) => c.index === index);
      if (done && (await allExist(req.stage, done.keys))) {
        chunks.push(done);
        continue;
      }
      await hooks.beforeChunk?.(index);
      const where = `${rowsRead}${range}`;
      chunks.push(
        await snapshot(client, req.source, () => copyChunk(client, req, plan.manifest.columns, index, where)),
      );
      hooks.onProgress?.({ schemaHash: plan.manifest.schemaHash, chunks });
    }
    const maxCursor =
      chunks
        .map((c) => c.maxCursor)
        .filter((c): c is string => c !== null)
        .sort()
        .pop() ?? null;
    const deletedKeys =
      partition && !plan.manifest.blocked && req.warehouse
        ? await stageDeletedKeys(client, req, partition, plan.manifest.columns)
        : undefined;
    return {
      ...plan.manifest,
      ...(deletedKeys ? { deletedKeys } : {}),
      keys: chunks.flatMap((c) => c.keys),
      rows: chunks.reduce((n, c) => n + c.rows, 0),
      sourceRows: chunks.reduce((n, c) => n + c.sourceRows, 0),
      bytes: chunks.reduce((n, c) => n + c.bytes, 0),
      maxCursor,
      rejects: chunks.flatMap((c) => c.rejects ?? []).slice(0, MAX_LISTED_REJECTS),
      rejectedRows: chunks.reduce((n, c) => n + (c.rejected ?? 0), 0),
    };
  } finally {
    await client.end().catch(() => undefined);
  }

  /** Reads one chunk (count, max cursor, rows) inside the caller's snapshot and stages it as Parquet. */
  async function copyChunk(
    tx: Tx,
    r: ExtractRequest,
    columns: StagedColumn[],
    index: number,
    where: string,
  ): Promise<ChunkResult> {
    const hasCursor = columns.some((c) => c.name === table.cursor);
    const stats = await tx.query<{ n: string; max_cursor: Date | null }>(
      `SELECT count(*) AS n, ${hasCursor ? `max(${cursor})` : 'NULL::timestamptz'} AS max_cursor FROM ${from} ${where}`,
    );
    const select = `SELECT ${columns.map((c) => quoteIdent(c.name)).join(', ')} FROM ${from} ${where}`;
    const { rows, rejects, rejected, dir } = await copyToParquet(
      client,
      r,
      select,
      columns,
      `${table.schema}.${table.name}.${index}`,
    );
    try {
      const keys: string[] = [];
      let bytes = 0;
      const staged = await stageParts(r, dir, `part-${String(index).padStart(5, '0')}`);
      keys.push(...staged.keys);
      bytes += staged.bytes;
      const max = stats.rows[0].max_cursor;
      return {
        index,
        keys,
        rows,
        sourceRows: Number(stats.rows[0].n),
        bytes,
        maxCursor: max ? max.toISOString() : null,
        rejects,
        rejected,
      };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

/** A client for the source (not connected yet); a connection string it cannot parse fails naming the secret. */
function connectionFor(req: ExtractRequest): Client {
  try {
    const client = new Client({
      connectionString: req.url,
      application_name: 'freshline',
      statement_timeout: parseDuration(req.source.statementTimeout),
    });
    // A server that restarts or fails over terminates the session: without a listener that 'error' event
    // (emitted while the client is idle between chunks) would crash the worker process. The next query
    // fails with it instead, and the activity is retried.
    client.on('error', () => undefined);
    return client;
  } catch (err) {
    throw sourceError(err, req.url, { secret: req.source.urlSecret, source: req.sourceName, connecting: true });
  }
}

/**
 * Opens the read-only snapshot every extract reads in, with the session settings that make COPY's text
 * unambiguous (UTC timestamps, ISO dates, all float digits). Benchmarks open the same for their baseline.
 */
export async function beginReadSnapshot(client: Pick<Client, 'query'>): Promise<void> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  await client.query("SET LOCAL TimeZone = 'UTC'");
  await client.query("SET LOCAL DateStyle = 'ISO, YMD'");
  await client.query("SET LOCAL IntervalStyle = 'iso_8601'");
  await client.query('SET LOCAL extra_float_digits = 3');
}

/** Puts the Parquet files of `dir` into the stage in row order, as `<table-window prefix>/<name>-<part>.parquet`. */
async function stageParts(req: ExtractRequest, dir: string, name: string): Promise<{ keys: string[]; bytes: number }> {
  const out = { keys: [] as string[], bytes: 0 };
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.parquet'))
    .sort((a, b) => fileNumber(a) - fileNumber(b));
  for (const [part, file] of files.entries()) {
    const key = `${stagePrefix(req.sourceName, req.table, req.window)}/${name}-${String(part).padStart(3, '0')}.parquet`;
    out.bytes += (await req.stage.putFile(key, join(dir, file))).bytes;
    out.keys.push(key);
  }
  return out;
}

/** DuckDB names split output data_<n>.parquet: order by n, not as text (data_10 after data_9). */
function fileNumber(name: string): number {
  return Number(/(\d+)\.parquet$/.exec(name)?.[1] ?? 0);
}

async function allExist(stage: ObjectStore, keys: string[]): Promise<boolean> {
  for (const key of keys) if (!(await stage.exists(key))) return false;
  return keys.length > 0;
}

/** Runs `fn` in one REPEATABLE READ READ ONLY transaction with the source's safety limits. */
async function snapshot<T>(client: Client, source: PostgresSourceConfig, fn: () => Promise<T>): Promise<T> {
  try {
    await beginReadSnapshot(client);
    await client.query(`SET LOCAL lock_timeout = ${parseDuration(source.lockTimeout)}`);
    const out = await fn();
    await client.query('COMMIT');
    return out;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** How a reload finds its partition's rows, or null when the table has no business date (cursor window). */
function reloadPartition(req: ExtractRequest): PartitionBy | null {
  const { table, parent } = req;
  if (table.businessDate) return { businessDate: table.businessDate };
  if (!table.partitionOf) return null;
  if (!parent?.businessDate || parent.name !== table.partitionOf.table)
    throw new Error(
      `${table.name}: partitionOf names '${table.partitionOf.table}', which was not given with its businessDate`,
    );
  return {
    parent: { table: parent.name, key: parent.primaryKey[0], businessDate: parent.businessDate },
    on: table.partitionOf.on,
  };
}

/** The partition predicate: the table's own business date, or its parent's through the child's `on` column. */
function partitionWhere(req: ExtractRequest, partition: PartitionBy): string {
  const { start, end } = req.window;
  if ('businessDate' in partition) return windowWhere(partition.businessDate, start, end);
  const { parent, on } = partition;
  const parentTable = qualified(req.parent!.schema, parent.table);
  return `WHERE ${quoteIdent(on)} IN (SELECT ${quoteIdent(parent.key)} FROM ${parentTable} ${windowWhere(parent.businessDate, start, end)})`;
}

/** Keys checked against the source per statement (their literals make up the statement: about 100 KB). */
const DELETE_CHECK_BATCH = 5_000;

/**
 * Reload: the keys raw holds live in the partition that the source no longer has — hard deletes, which
 * no cursor ever sees — staged as Parquet of the key columns; load writes them as tombstones. Each key is
 * looked up in the whole source table, so a row that only moved to another partition is not taken for
 * deleted. A PII key is a token in raw and plain in the source, so such tables are not checked.
 */
async function stageDeletedKeys(
  client: Client,
  req: ExtractRequest,
  partition: PartitionBy,
  columns: StagedColumn[],
): Promise<Manifest['deletedKeys']> {
  const { table } = req;
  if (table.primaryKey.some((k) => table.pii.includes(k))) return undefined;
  const live = await livePartitionKeys(req.warehouse!, {
    source: req.sourceName,
    table: table.name,
    primaryKey: table.primaryKey,
    partition,
    window: req.window,
  });
  const keyColumns = table.primaryKey.map((k) => columns.find((c) => c.name === k)!);
  const typed = (j: number) => `c.k${j}::${keyColumns[j].sourceType}`;
  const out = { keys: [] as string[], rows: 0 };
  for (let i = 0; i < live.length; i += DELETE_CHECK_BATCH) {
    const values = live
      .slice(i, i + DELETE_CHECK_BATCH)
      .map((key) => `(${key.map((v) => quoteLiteral(v, 'postgres')).join(', ')})`)
      .join(', ');
    const select = `SELECT ${keyColumns.map((c, j) => `${typed(j)} AS ${quoteIdent(c.name)}`).join(', ')}
         FROM (VALUES ${values}) AS c(${keyColumns.map((_c, j) => `k${j}`).join(', ')})
        WHERE NOT EXISTS (SELECT 1 FROM ${qualified(table.schema, table.name)} AS t
                           WHERE ${keyColumns.map((c, j) => `t.${quoteIdent(c.name)} = ${typed(j)}`).join(' AND ')})`;
    const batch = i / DELETE_CHECK_BATCH;
    const copied = await snapshot(client, req.source, () =>
      copyToParquet(client, req, select, keyColumns, `${table.schema}.${table.name}.deleted.${batch}`),
    );
    try {
      if (copied.rows === 0) continue;
      out.keys.push(...(await stageParts(req, copied.dir, `deleted-${String(batch).padStart(5, '0')}`)).keys);
      out.rows += copied.rows;
    } finally {
      rmSync(copied.dir, { recursive: true, force: true });
    }
  }
  return out.rows ? out : undefined;
}

/** The window predicate. COPY takes no bind parameters; both bounds are ISO strings we produced from Date. */
function windowWhere(column: string, from: string, to: string): string {
  const c = quoteIdent(column);
  return `WHERE ${c} >= ${quoteLiteral(from, 'postgres')}::timestamptz AND ${c} < ${quoteLiteral(to, 'postgres')}::timestamptz`;
}

/**
 * Splits the window into primary-key ranges of about `chunkRows` rows (equal-width ranges between the
 * window's min and max key). Only a single integer key can be ranged; other keys give one chunk.
 */
async function planRanges(client: Client, table: SourceTableConfig, where: string): Promise<string[]> {
  if (table.primaryKey.length !== 1) return [''];
  const pk = quoteIdent(table.primaryKey[0]);
  const {
    rows: [r],
  } = await client.query<{ n: string; lo: string | null; hi: string | null; is_int: boolean }>(
    `SELECT count(*) AS n, min(${pk})::text AS lo, max(${pk})::text AS hi,
            pg_typeof(min(${pk}))::text IN ('smallint', 'integer', 'bigint') AS is_int
       FROM ${qualified(table.schema, table.name)} ${where}`,
  );
  const n = Number(r.n);
  if (!r.is_int || r.lo === null || r.hi === null || n <= table.chunkRows) return [''];
  const lo = BigInt(r.lo);
  const hi = BigInt(r.hi);
  const parts = BigInt(Math.ceil(n / table.chunkRows));
  const width = (hi - lo + parts) / parts;
  const ranges: string[] = [];
  for (let start = lo; start <= hi; start += width) {
    const end = start + width;
    ranges.push(` AND ${pk} >= ${start} AND ${pk} < ${end}`);
  }
  return ranges;
}

/** Streams one SELECT through COPY into a local Parquet file; returns its row count and path. */
async function copyToParquet(
  client: Client,
  req: ExtractRequest,
  select: string,
  columns: StagedColumn[],
  label: string,
): Promise<{ rows: number; rejects: SourceReject[]; rejected: number; dir: string }> {
  const fifo = join(req.scratchDir, `${label}.${process.pid}.${Date.now()}.csv`);
  const dir = `${fifo}.parquet.d`;
  try {
    const pii = req.table.pii.length
      ? { columns: req.table.pii, keyId: await registerPiiKey(req.converter, req.piiKey) }
      : null;
    const source = client.query(copyTo(`COPY (${select}) TO STDOUT WITH (FORMAT csv)`));
    const maxBytesPerSecond = req.source.maxReadMBPerSecond ? req.source.maxReadMBPerSecond * 1024 * 1024 : undefined;
    const fileSizeBytes = req.table.fileSizeMB * 1024 * 1024;
    const out = await encodeCsvToParquet({
      db: req.converter,
      source,
      fifo,
      parquet: dir,
      csvColumns: columns,
      pii,
      maxBytesPerSecond,
      fileSizeBytes,
      rejectKeys: req.table.primaryKey,
    });
    const rejects = out.rejects.map((r) => withheldKey(r, req.table.pii));
    return { rows: out.rows, rejects, rejected: out.rejected, dir };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
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
  if (res.rows.length === 0)
    throw new Error(`source table ${table.schema}.${table.name} does not exist or has no columns`);
  const names = new Set(res.rows.map((r) => r.name));
  for (const col of [...table.primaryKey, ...(table.mode === 'incremental' ? [table.cursor] : []), ...table.pii]) {
    if (!names.has(col))
      throw new Error(`column '${col}' declared in config is missing from ${table.schema}.${table.name}`);
  }
  return res.rows
    .filter((r) => !table.exclude.includes(r.name))
    .map((r) => ({
      name: r.name,
      sourceType: r.type,
      type: table.pii.includes(r.name) ? 'VARCHAR' : warehouseType(r.type),
    }));
}

/** Stable hash of the staged column list: a different hash means the source schema changed. */
export function schemaHash(columns: StagedColumn[]): string {
  return createHash('sha256')
    .update(columns.map((c) => `${c.name}:${c.sourceType}`).join('\n'))
    .digest('hex')
    .slice(0, 16);
}
