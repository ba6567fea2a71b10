import { createHash } from 'node:crypto';
import { CDC_FILE_COLUMNS, type Manifest } from '../../sources/postgres/manifest';
import { snowflakeType } from '../dialect';
import { SCHEMAS, rawTable } from '../layout';
import { snowflakeStringLiteral } from './snowflake-sql';
import { qualified, quoteIdent } from '../sql';
import type { StagedRelation, StagedRowsReader } from '../staged';
import type { Row, Warehouse } from '../warehouse';

/** The external stage through which Snowflake reads the S3 stage (config `warehouse.externalStage`). */
export interface ExternalStage {
  /** Stage name; the stage lives in the `raw` schema. */
  name: string;
  /** S3 URL of the stage root: the S3 stage's bucket and prefix, so manifest keys are relative to it. */
  url: string;
  /** Storage integration that grants Snowflake read access to the bucket. */
  storageIntegration: string;
}

/** Snowflake's FILES = (…) names at most this many files per COPY. */
const MAX_FILES_PER_COPY = 1000;
/** Characters extract writes keys with; anything else in a stage path is refused. */
const SAFE_PATH = /^[A-Za-z0-9_.=/-]+$/;
/** Names written unquoted inside a stage location (validated config identifiers and our schema names). */
const PLAIN_NAME = /^[a-z_][a-z0-9_]*$/;

/**
 * Snowflake copies a manifest's files from the external stage into a fresh temporary table, then checks
 * COPY's per-file report against the manifest before anything touches raw. The stage is created (IF NOT
 * EXISTS) on the first load of the process.
 */
export function snowflakeStagedRows(stage: ExternalStage): StagedRowsReader {
  if (!/^s3:\/\/[^'\\\s]+$/.test(stage.url))
    throw new Error(`external stage URL must be s3://bucket/prefix/, got '${stage.url}'`);
  if (!PLAIN_NAME.test(stage.name))
    throw new Error(`external stage name must be a lower-case identifier, got '${stage.name}'`);
  const stageRef = qualified(SCHEMAS.raw, stage.name);
  let created: Promise<void> | undefined;
  const ensureStage = (wh: Warehouse): Promise<void> => {
    created ??= wh.run(createStageSql(stageRef, stage)).then(
      () => undefined,
      (err: unknown) => {
        created = undefined; // the next load tries again (e.g. after the integration was granted)
        throw err;
      },
    );
    return created;
  };
  return {
    dialect: 'snowflake',
    async open(wh, manifest): Promise<StagedRelation> {
      await ensureStage(wh);
      // CDC files carry their change metadata too (DuckDB reads it from the files' own schema).
      const columns = [...manifest.columns, ...(manifest.mode === 'cdc' ? CDC_FILE_COLUMNS : [])].map((c) => ({
        name: c.name,
        type: snowflakeType(c.type, c.name),
      }));
      const temp = qualified(SCHEMAS.raw, tempTableName(manifest));
      const drop = async () => {
        await wh.run(`DROP TABLE IF EXISTS ${temp}`);
      };
      // Fresh for every load: COPY's load metadata (which files a table already has) then never applies,
      // and FORCE = TRUE below says so explicitly, so re-running a window copies its files again.
      await wh.run(
        `CREATE OR REPLACE TEMPORARY TABLE ${temp} (${[...columns.map((c) => `${quoteIdent(c.name)} ${c.type}`), `${quoteIdent('filename')} VARCHAR`].join(', ')})`,
      );
      try {
        const results: Row[] = [];
        for (const sql of copySql(temp, `${SCHEMAS.raw}.${stage.name}`, manifest.keys))
          results.push(...(await wh.query(sql)));
        checkCopyResult(manifest, results);
      } catch (err) {
        await drop().catch(() => undefined);
        throw err;
      }
      return { from: temp, columns, close: drop };
    },
  };
}

function createStageSql(stageRef: string, stage: ExternalStage): string {
  const url = stage.url.replace(/\/*$/, '/');
  return `CREATE STAGE IF NOT EXISTS ${stageRef} URL = ${snowflakeStringLiteral(url)} STORAGE_INTEGRATION = ${quoteIdent(stage.storageIntegration)} FILE_FORMAT = (TYPE = PARQUET)`;
}

/** `_staged__<source>__<table>__<hash of the files>`: one per manifest, so concurrent loads never share one. */
function tempTableName(manifest: Manifest): string {
  const digest = createHash('sha256').update(manifest.keys.join('\n')).digest('hex').slice(0, 12);
  return `_staged__${rawTable(manifest.source, manifest.table)}__${digest}`;
}

/**
 * COPY statements for the files, FROM their common directory with FILES relative to it (fastest way to
 * name files, at most 1,000 per statement). MATCH_BY_COLUMN_NAME maps Parquet columns by name, so the file
 * order of columns does not matter; ON_ERROR = ABORT_STATEMENT fails the COPY on the first bad row.
 * The location is a string literal ('@raw.stage/path/', as Snowflake allows for paths with special
 * characters): extract's paths contain `--`, which unquoted would start a SQL comment. Inside it the
 * stage is named unquoted; with QUOTED_IDENTIFIERS_IGNORE_CASE that is the object `CREATE STAGE "raw"."…"` made.
 */
export function copySql(temp: string, stage: string, keys: string[]): string[] {
  if (!stage.split('.').every((part) => PLAIN_NAME.test(part)))
    throw new Error(`refusing unsafe stage name '${stage}'`);
  const dir = commonDirectory(keys);
  if (dir && !SAFE_PATH.test(dir)) throw new Error(`refusing unsafe stage path '${dir}'`);
  const from = snowflakeStringLiteral(dir ? `@${stage}/${dir}/` : `@${stage}`);
  const relative = keys.map((k) => (dir ? k.slice(dir.length + 1) : k));
  const out: string[] = [];
  for (let i = 0; i < relative.length; i += MAX_FILES_PER_COPY) {
    const files = relative
      .slice(i, i + MAX_FILES_PER_COPY)
      .map(snowflakeStringLiteral)
      .join(', ');
    out.push(
      `COPY INTO ${temp} FROM ${from} FILES = (${files}) FILE_FORMAT = (TYPE = PARQUET) MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE ` +
        'INCLUDE_METADATA = (filename = METADATA$FILENAME) ON_ERROR = ABORT_STATEMENT FORCE = TRUE',
    );
  }
  return out;
}

/** The directory every key is in ('' when they share none). */
function commonDirectory(keys: string[]): string {
  const dirs = keys.map((k) => k.split('/').slice(0, -1));
  let n = 0;
  while (dirs.every((d) => n < d.length && d[n] === dirs[0][n])) n += 1;
  return dirs[0]?.slice(0, n).join('/') ?? '';
}

/**
 * Checks COPY's report (one row per file: file, status, rows_parsed, rows_loaded, error_limit, errors_seen,
 * first_error, …) against the manifest: every staged file LOADED and, in total, exactly the rows extract
 * staged. `file` is the file's URL in the stage (s3://bucket/prefix/<key>), so it is matched on the key.
 * Only LOADED counts: with FORCE = TRUE into a fresh table a file is never skipped as already loaded, so
 * any other status (LOAD_SKIPPED, PARTIALLY_LOADED, LOAD_FAILED) means rows did not arrive.
 */
export function checkCopyResult(manifest: Manifest, results: Row[]): void {
  const perFile = results.filter((r) => typeof r.file === 'string');
  const rowFor = (key: string) => perFile.find((r) => r.file === key || String(r.file).endsWith(`/${key}`));
  const missing: string[] = [];
  const notLoaded: string[] = [];
  for (const key of manifest.keys) {
    const row = rowFor(key);
    if (!row) missing.push(key);
    else if (String(row.status).toUpperCase() !== 'LOADED') {
      notLoaded.push(`${key} (${String(row.status)}${row.first_error ? `: ${String(row.first_error)}` : ''})`);
    }
  }
  const loaded = perFile.reduce((sum, r) => sum + Number(r.rows_loaded ?? 0), 0);
  const problems = [
    ...(missing.length ? [`files missing from the COPY result: ${missing.join(', ')}`] : []),
    ...(notLoaded.length ? [`files not loaded: ${notLoaded.join(', ')}`] : []),
    ...(loaded !== manifest.rows ? [`rows loaded ${loaded}, staged ${manifest.rows}`] : []),
  ];
  if (problems.length) {
    throw new Error(
      `COPY of ${manifest.source}.${manifest.table} from the stage did not load what extract staged; raw was not changed: ${problems.join('; ')}`,
    );
  }
}
