import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DuckDBBlobValue,
  DuckDBDateValue,
  DuckDBDecimalValue,
  DuckDBInstance,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  DuckDBTimeValue,
  type DuckDBConnection,
  type DuckDBValue,
} from '@duckdb/node-api';
import { Dialect, init, transpile } from '@polyglot-sql/sdk';
import { parquetLoadRefusal, type ParquetColumn } from './parquet-load';

/**
 * Executes the statements the stand-in accepted, so tests on the production adapters see real data: counts,
 * sums, MERGE results and certified tables, not programmed answers. Each accepted statement is transpiled
 * from Snowflake's dialect to DuckDB's by polyglot-sql (a sqlglot port) and run in an in-memory DuckDB, one
 * connection per Snowflake session. Forms the transpiler has no DuckDB equivalent for are executed here by
 * their Snowflake meaning: COPY INTO from an external stage (files read from the S3 server the stage points
 * at), CLONE, SWAP WITH, TEMPORARY/TRANSIENT tables, GENERATOR, grants and session statements (no-ops).
 *
 * Transactions follow Snowflake's rules where Freshline relies on them: BEGIN … COMMIT on a session holds
 * the account's write lock (other sessions' statements wait, as DML on a locked table does), DDL inside a
 * transaction commits it first, and a transaction whose session disconnected is rolled back once it has
 * been idle for `detachedIdleMs` while another session waits (Snowflake: 5 minutes). A statement DuckDB
 * cannot run fails loudly: the stand-in never answers what it did not compute.
 */

/** How the executor reaches the stage's files. */
export interface ExecutionOptions {
  /** The bytes of a file at an `s3://bucket/key` URL (the external stage's URL plus the file's path). */
  readStageFile(url: string): Promise<Buffer>;
  /** Idle time after which a disconnected session's open transaction is rolled back when another waits. */
  detachedIdleMs?: number;
  /** How long a statement waits for another session's transaction before failing (Snowflake's LOCK_TIMEOUT). */
  lockTimeoutMs?: number;
}

/** A result column as the stand-in encodes it (Snowflake type names). */
export interface ExecutedColumn {
  name: string;
  type: string;
}

/** What executing one statement gave. */
export type Executed =
  | { columns: ExecutedColumn[]; rows: unknown[][] }
  | { updated: number }
  | { error: { code: string; sqlState: string; message: string } }
  | undefined;

interface SessionState {
  connection: DuckDBConnection;
  inTransaction: boolean;
  /** Tables created TEMPORARY on this session: dropped when it ends. */
  temporary: Set<string>;
  lastActive: number;
  /** Whether the client is still connected (the stand-in tells from the session's sockets). */
  connected: () => boolean;
}

const NAME = String.raw`(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)`;
const QNAME = String.raw`${NAME}\.${NAME}`;

let polyglot: Promise<void> | undefined;

/** See the module comment. */
export class SnowflakeExecution {
  private readonly sessions = new Map<number, SessionState>();
  private readonly stages = new Map<string, string>();
  /** Which session holds the write lock (a statement in progress, or an open transaction). */
  private holder: number | null = null;
  private readonly waiting: { session: number; grant: () => void }[] = [];
  private readonly tmp = mkdtempSync(join(tmpdir(), 'freshline-sf-exec-'));
  private sweeper?: NodeJS.Timeout;

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly options: ExecutionOptions,
  ) {}

  static async create(options: ExecutionOptions): Promise<SnowflakeExecution> {
    polyglot ??= init();
    await polyglot;
    const instance = await DuckDBInstance.create(':memory:', { threads: '2' });
    const connection = await instance.connect();
    for (const macro of SNOWFLAKE_MACROS) await connection.run(macro);
    connection.closeSync();
    return new SnowflakeExecution(instance, options);
  }

  /** Registers a session (at login); `connected` says whether its client is still there. */
  async openSession(id: number, connected: () => boolean): Promise<void> {
    const connection = await this.instance.connect();
    await connection.run(`SET TimeZone = 'UTC'`);
    this.sessions.set(id, {
      connection,
      inTransaction: false,
      temporary: new Set(),
      lastActive: Date.now(),
      connected,
    });
  }

  /** Logout or expiry: an open transaction is rolled back, temporary tables dropped, the lock released. */
  async endSession(id: number): Promise<void> {
    const s = this.sessions.get(id);
    if (!s) return;
    this.sessions.delete(id);
    if (s.inTransaction) await s.connection.run('ROLLBACK').catch(() => undefined);
    for (const t of s.temporary) await s.connection.run(`DROP TABLE IF EXISTS ${t}`).catch(() => undefined);
    s.connection.closeSync();
    if (this.holder === id) this.release();
  }

  /** Runs one accepted statement on the session's connection; `columns`: the analyzer's result columns. */
  async execute(sessionId: number, sqlText: string, binds: unknown[], columns?: ExecutedColumn[]): Promise<Executed> {
    const s = this.sessions.get(sessionId);
    if (!s) throw new Error(`stand-in execution: session ${sessionId} is not open`);
    const sql = sqlText.trim().replace(/;\s*$/, '');
    if (/^(ALTER\s+SESSION|USE|GRANT|REVOKE)\b/i.test(sql)) return undefined;
    const lockError = await this.acquire(sessionId);
    if (lockError) return lockError;
    s.lastActive = Date.now();
    try {
      return await this.executeLocked(s, sql, binds, columns);
    } finally {
      s.lastActive = Date.now();
      if (!s.inTransaction && this.holder === sessionId) this.release();
    }
  }

  private async executeLocked(
    s: SessionState,
    sql: string,
    binds: unknown[],
    columns?: ExecutedColumn[],
  ): Promise<Executed> {
    if (/^(BEGIN(\s+TRANSACTION)?|START\s+TRANSACTION)$/i.test(sql)) {
      if (!s.inTransaction) await s.connection.run('BEGIN TRANSACTION');
      s.inTransaction = true;
      return undefined;
    }
    if (/^(COMMIT|ROLLBACK)$/i.test(sql)) {
      if (s.inTransaction) await s.connection.run(sql.toUpperCase());
      s.inTransaction = false;
      return undefined;
    }
    // DDL commits an open transaction before it runs.
    if (s.inTransaction && /^(CREATE|ALTER|DROP|TRUNCATE)\b/i.test(sql)) {
      await s.connection.run('COMMIT');
      s.inTransaction = false;
    }
    let m = new RegExp(
      String.raw`^CREATE\s+(?:OR\s+REPLACE\s+)?SCHEMA\s+(?:IF\s+NOT\s+EXISTS\s+)?(${NAME})$`,
      'i',
    ).exec(sql);
    if (m) return this.ddl(s, `CREATE SCHEMA IF NOT EXISTS ${m[1]}`);
    m = new RegExp(
      String.raw`^CREATE\s+(?:OR\s+REPLACE\s+)?STAGE\s+(?:IF\s+NOT\s+EXISTS\s+)?(${QNAME})\s+URL\s*=\s*'([^']+)'`,
      'i',
    ).exec(sql);
    if (m) {
      this.stages.set(plainName(m[1]), m[2].replace(/\/*$/, '/'));
      return undefined;
    }
    if (/^COPY\s+INTO\b/i.test(sql)) return this.copyInto(s, sql);
    m = new RegExp(String.raw`^ALTER\s+TABLE\s+(${QNAME})\s+SWAP\s+WITH\s+(${QNAME})$`, 'i').exec(sql);
    if (m) {
      // DuckDB cannot move a table between schemas: the contents trade places through a scratch copy.
      const scratch = `main."_swap_${randomUUID().replace(/-/g, '')}"`;
      await s.connection.run(`CREATE TABLE ${scratch} AS SELECT * FROM ${m[1]}`);
      await s.connection.run(`CREATE OR REPLACE TABLE ${m[1]} AS SELECT * FROM ${m[2]}`);
      await s.connection.run(`CREATE OR REPLACE TABLE ${m[2]} AS SELECT * FROM ${scratch}`);
      await s.connection.run(`DROP TABLE ${scratch}`);
      return undefined;
    }
    m = new RegExp(
      String.raw`^CREATE\s+(OR\s+REPLACE\s+)?(?:TRANSIENT\s+|TEMPORARY\s+)?TABLE\s+(IF\s+NOT\s+EXISTS\s+)?(${QNAME})\s+CLONE\s+(${QNAME})$`,
      'i',
    ).exec(sql);
    if (m) {
      const how = m[1] ? 'CREATE OR REPLACE TABLE' : m[2] ? 'CREATE TABLE IF NOT EXISTS' : 'CREATE TABLE';
      return this.ddl(s, `${how} ${m[3]} AS SELECT * FROM ${m[4]}`);
    }
    const temporary = new RegExp(
      String.raw`^CREATE\s+(?:OR\s+REPLACE\s+)?TEMPORARY\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(${QNAME})`,
      'i',
    ).exec(sql);
    // Snowflake's temporary tables live in a named schema; DuckDB's only in `temp`: a plain table, dropped with the session.
    if (temporary) s.temporary.add(temporary[1]);
    const snowflake = sql
      .replace(/^(CREATE\s+(?:OR\s+REPLACE\s+)?)(?:TRANSIENT|TEMPORARY)\s+(TABLE)\b/i, '$1$2')
      .replace(/\bTABLE\s*\(\s*GENERATOR\s*\(\s*ROWCOUNT\s*=>\s*(\d+)\s*\)\s*\)/gi, '__generator_$1');
    const duck = transpiled(snowflake);
    const reader = await s.connection.runAndReadAll(duck, binds.map(asDuckValue));
    if (/^(INSERT|UPDATE|DELETE|MERGE)\b/i.test(sql)) return { updated: reader.rowsChanged };
    if (!/^(SELECT|WITH|\(|VALUES)/i.test(sql)) return undefined;
    const names = reader.columnNames();
    const duckTypes = reader.columnTypes().map((t) => t.toString());
    const out =
      columns && columns.length === names.length
        ? columns
        : names.map((n, i) => ({
            name: n.toUpperCase(),
            type: snowflakeTypeOf(duckTypes[i]),
          }));
    return { columns: out, rows: reader.getRows().map((row) => row.map(plainValue)) };
  }

  private async ddl(s: SessionState, sql: string): Promise<Executed> {
    await s.connection.run(sql);
    return undefined;
  }

  /**
   * COPY INTO <table> FROM '@<stage>/<dir>/' FILES = (…) … MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE
   * [INCLUDE_METADATA = (<col> = METADATA$FILENAME)]: each file is read from the stage's S3 location,
   * columns matched by name (table columns the file lacks load NULL), and Snowflake's per-file report returned.
   */
  private async copyInto(s: SessionState, sql: string): Promise<Executed> {
    const m = new RegExp(
      String.raw`^COPY\s+INTO\s+(${QNAME})\s+FROM\s+'@([^'/]+)/?([^']*)'\s+(?:FILES\s*=\s*\(((?:\s*'[^']+'\s*,?)+)\)\s+)?[\s\S]*$`,
      'i',
    ).exec(sql);
    if (!m) throw new Error(`stand-in execution: COPY INTO form not executable: ${sql.slice(0, 200)}`);
    const [, table, stageName, dirText, fileList] = m;
    const metadataColumn = new RegExp(
      String.raw`\bINCLUDE_METADATA\s*=\s*\(\s*(${NAME})\s*=\s*METADATA\$FILENAME\s*\)`,
      'i',
    ).exec(sql)?.[1];
    const stageUrl = this.stages.get(plainName(stageName));
    if (!stageUrl) throw new Error(`stand-in execution: stage ${stageName} was never created`);
    const dir = dirText.replace(/\/*$/, '');
    const files = [...(fileList ?? '').matchAll(/'([^']+)'/g)].map((f) => f[1]);
    if (!files.length) throw new Error('stand-in execution: COPY without FILES = (…) is not executed here');
    const target = (await s.connection.runAndReadAll(`DESCRIBE ${table}`)).getRowObjectsJS() as {
      column_name: string;
      column_type: string;
    }[];
    const metadata = metadataColumn ? plainName(metadataColumn).toUpperCase() : null;
    const locals = files.map((file) => ({
      path: dir ? `${dir}/${file}` : file,
      local: join(this.tmp, `${randomUUID()}.parquet`),
      columns: new Map<string, ParquetColumn>(),
    }));
    try {
      // Every file is checked before any row lands: ABORT_STATEMENT loads nothing when one file is refused.
      for (const { path, local, columns } of locals) {
        writeFileSync(local, await this.options.readStageFile(`${stageUrl}${path}`));
        const leaves = (
          await s.connection.runAndReadAll(
            `SELECT name, type, converted_type, logical_type, precision::INTEGER AS precision, scale::INTEGER AS scale FROM parquet_schema('${local}') WHERE type IS NOT NULL`,
          )
        ).getRowObjectsJS() as unknown as ParquetColumn[];
        for (const c of leaves) columns.set(c.name.toUpperCase(), c);
        for (const { column_name, column_type } of target) {
          const col = columns.get(column_name.toUpperCase());
          const why = col && column_name.toUpperCase() !== metadata ? parquetLoadRefusal(col, column_type) : null;
          if (why)
            return {
              error: {
                code: '002023',
                sqlState: '22000',
                message: `SQL compilation error: Expression type does not match column data type (file ${path}): ${why}`,
              },
            };
        }
      }
      const rows: unknown[][] = [];
      for (const { path, local, columns } of locals) {
        const from = `read_parquet('${local}')`;
        const selects = target.map(({ column_name }) => {
          const as = quote(column_name);
          if (column_name.toUpperCase() === metadata) return `'${path.replace(/'/g, "''")}' AS ${as}`;
          const source = columns.get(column_name.toUpperCase());
          return source ? `${quote(source.name)} AS ${as}` : `NULL AS ${as}`;
        });
        const inserted = await s.connection.run(
          `INSERT INTO ${table} (${target.map((c) => quote(c.column_name)).join(', ')}) SELECT ${selects.join(', ')} FROM ${from}`,
        );
        const n = inserted.rowsChanged;
        rows.push([`${stageUrl}${path}`, 'LOADED', n, n, 1, 0, null, null, null, null]);
      }
      return { columns: COPY_COLUMNS, rows };
    } finally {
      for (const { local } of locals) rmSync(local, { force: true });
    }
  }

  /** Waits for the write lock (none needed when the session already holds it). */
  private acquire(sessionId: number): Promise<Executed> {
    if (this.holder === null || this.holder === sessionId) {
      this.holder = sessionId;
      return Promise.resolve(undefined);
    }
    this.sweep();
    return new Promise((resolve) => {
      const entry = {
        session: sessionId,
        grant: () => {
          clearTimeout(timer);
          resolve(undefined);
        },
      };
      const timeout = this.options.lockTimeoutMs ?? 120_000;
      const timer = setTimeout(() => {
        this.waiting.splice(this.waiting.indexOf(entry), 1);
        resolve({
          error: {
            code: '000625',
            sqlState: '57014',
            message: `Statement waited ${timeout / 1000} s for a lock held by session ${this.holder} and was aborted (LOCK_TIMEOUT).`,
          },
        });
      }, timeout);
      this.waiting.push(entry);
    });
  }

  private release(): void {
    const next = this.waiting.shift();
    this.holder = next?.session ?? null;
    next?.grant();
    if (!next) this.stopSweeper();
  }

  /** While someone waits: roll back a disconnected holder's transaction once it has been idle long enough. */
  private sweep(): void {
    if (this.sweeper) return;
    const idle = this.options.detachedIdleMs ?? 300_000;
    this.sweeper = setInterval(
      () => {
        const holder = this.holder === null ? undefined : this.sessions.get(this.holder);
        if (!holder || !holder.inTransaction || holder.connected()) return;
        if (Date.now() - holder.lastActive < idle) return;
        void this.endSession(this.holder!);
      },
      Math.min(1000, idle),
    );
    this.sweeper.unref();
  }

  private stopSweeper(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  /**
   * The exact NUMBER(p,s) of a created table's or view's fixed-point columns, upper-case name → type: the
   * analyzer's NUMERIC carries no precision or scale, DuckDB's DECIMAL does (and follows Snowflake's rules for
   * casts, sums and +/-; its decimal division gives DOUBLE, which is left to the analyzer's answer).
   */
  async fixedPointTypes(schema: string, name: string): Promise<Map<string, string>> {
    const rows = await this.read(
      `SELECT column_name, data_type FROM information_schema.columns WHERE lower(table_schema) = lower('${schema.replace(/'/g, "''")}') AND lower(table_name) = lower('${name.replace(/'/g, "''")}')`,
    );
    const out = new Map<string, string>();
    for (const { column_name, data_type } of rows) {
      const dec = /^DECIMAL\((\d+),(\d+)\)$/.exec(String(data_type));
      if (dec) out.set(String(column_name).toUpperCase(), `NUMBER(${dec[1]},${dec[2]})`);
    }
    return out;
  }

  /** A read-only look at the account's data, for tests comparing tables (no Snowflake rules applied). */
  async read(sql: string): Promise<Record<string, unknown>[]> {
    const connection = await this.instance.connect();
    try {
      const reader = await connection.runAndReadAll(sql);
      const names = reader.columnNames();
      return reader.getRows().map((row) => Object.fromEntries(row.map((v, i) => [names[i], plainValue(v)])));
    } finally {
      connection.closeSync();
    }
  }

  async close(): Promise<void> {
    this.stopSweeper();
    for (const id of [...this.sessions.keys()]) await this.endSession(id);
    this.instance.closeSync();
    rmSync(this.tmp, { recursive: true, force: true });
  }
}

/** The per-file report COPY INTO returns. */
export const COPY_COLUMNS: ExecutedColumn[] = [
  'file:VARCHAR',
  'status:VARCHAR',
  'rows_parsed:NUMBER(38,0)',
  'rows_loaded:NUMBER(38,0)',
  'error_limit:NUMBER(38,0)',
  'errors_seen:NUMBER(38,0)',
  'first_error:VARCHAR',
  'first_error_line:NUMBER(38,0)',
  'first_error_character:NUMBER(38,0)',
  'first_error_column_name:VARCHAR',
].map((c) => ({ name: c.split(':')[0], type: c.split(':')[1] }));

/** `"raw"."stage"` / raw.stage → raw.stage (case ignored, as QUOTED_IDENTIFIERS_IGNORE_CASE makes it). */
function plainName(text: string): string {
  return text.replace(/"/g, '').toLowerCase();
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

const TRANSPILED = new Map<string, string>();

/** toDuckDb, remembered: a run sends the same statement texts (binds apart) run after run. */
function transpiled(sql: string): string {
  let out = TRANSPILED.get(sql);
  if (out === undefined) {
    out = toDuckDb(sql);
    if (TRANSPILED.size >= 5000) TRANSPILED.delete(TRANSPILED.keys().next().value!);
    TRANSPILED.set(sql, out);
  }
  return out;
}

/**
 * Snowflake SQL as DuckDB SQL: polyglot-sql's transpilation, then the few spellings it leaves that DuckDB
 * reads differently — `:n` binds, CURRENT_TIMESTAMP(), and the GENERATOR rows (numbered by SEQ4) as range().
 */
function toDuckDb(sql: string): string {
  const result = transpile(
    outsideQuotes(sql, (code) =>
      code.replace(/\bDATEDIFF\s*\(\s*(\w+)\s*,/gi, "__sf_datediff('$1',").replace(/\bTO_CHAR\s*\(/gi, '__sf_to_char('),
    ),
    Dialect.Snowflake,
    Dialect.DuckDB,
  );
  if (!result.success || !result.sql)
    throw new Error(`stand-in execution: cannot transpile to DuckDB (${result.error}): ${sql.slice(0, 300)}`);
  return outsideQuotes(result.sql.join(';\n'), (code) =>
    code
      .replace(/(^|[^\w:]):(\d+)\b/g, '$1$$$2')
      .replace(/\bCURRENT_TIMESTAMP\s*\(\s*\)/gi, 'CURRENT_TIMESTAMP')
      // polyglot keeps Snowflake's zone-less and local-zone timestamp type names, which DuckDB has not.
      .replace(/\bTIMESTAMPNTZ\b/gi, 'TIMESTAMP')
      .replace(/\bTIMESTAMPLTZ\b/gi, 'TIMESTAMPTZ')
      .replace(/\b__generator_(\d+)\b/g, 'range($1) AS __generator(__seq)')
      .replace(/\bSEQ[1248]\s*\(\s*\)/gi, '(__seq)')
      // polyglot writes DATEADD(day, n, d) as `d + INTERVAL n DAY`, which DuckDB reads only for a literal n.
      .replace(
        /\bINTERVAL\s+([A-Za-z_]\w*(?:\.\w+)?)\s+(DAY|HOUR|MINUTE|SECOND|MONTH|YEAR|WEEK)\b/gi,
        'INTERVAL ($1) $2',
      ),
  );
}

/**
 * Snowflake functions polyglot-sql translates wrongly (DATEDIFF(hour, …) casts both sides to DATE; TO_CHAR keeps
 * Snowflake's format letters), renamed before transpiling and defined here with Snowflake's meaning.
 */
const SNOWFLAKE_MACROS = [
  `CREATE MACRO __sf_datediff(unit, a, b) AS date_diff(unit, a, b)`,
  `CREATE MACRO __sf_to_char(e, fmt) AS strftime(e, replace(replace(replace(replace(replace(replace(fmt,
     'YYYY', '%Y'), 'MM', '%m'), 'DD', '%d'), 'HH24', '%H'), 'MI', '%M'), 'SS', '%S'))`,
];

/** Applies `f` to the parts of `sql` outside comments, string literals and quoted identifiers. */
function outsideQuotes(sql: string, f: (code: string) => string): string {
  return sql
    .split(/(--[^\n]*|\/\*[\s\S]*?\*\/|'(?:[^'\\]|\\.|'')*'|"(?:[^"]|"")*")/)
    .map((part, i) => (i % 2 ? part : f(part)))
    .join('');
}

function asDuckValue(v: unknown): DuckDBValue {
  return v === undefined ? null : (v as DuckDBValue);
}

const pad = (n: number | bigint, width = 2) => String(n).padStart(width, '0');

/** A DuckDB value as the stand-in's encoder takes it: text for decimals, ISO text for times, Buffer for bytes. */
function plainValue(v: DuckDBValue): unknown {
  if (v === null || typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string') return v;
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof DuckDBDecimalValue) return v.toString();
  if (v instanceof DuckDBTimestampTZValue || v instanceof DuckDBTimestampValue) return isoMicros(v.micros);
  if (v instanceof DuckDBDateValue) return isoMicros(BigInt(v.days) * 86_400_000_000n).slice(0, 10);
  if (v instanceof DuckDBTimeValue) return isoMicros(v.micros).slice(11, 26);
  if (v instanceof DuckDBBlobValue) return Buffer.from(v.bytes);
  return String(v);
}

function isoMicros(micros: bigint): string {
  const seconds = micros / 1_000_000n - (micros % 1_000_000n < 0n ? 1n : 0n);
  const fraction = micros - seconds * 1_000_000n;
  return `${new Date(Number(seconds) * 1000).toISOString().slice(0, 19)}.${pad(fraction, 6)}Z`;
}

/** A result type for queries the analyzer gave no columns for. */
function snowflakeTypeOf(duckType: string): string {
  if (/^(BIGINT|INTEGER|HUGEINT|SMALLINT|TINYINT|UBIGINT|UINTEGER)$/.test(duckType)) return 'NUMBER(38,0)';
  const dec = /^DECIMAL\((\d+),(\d+)\)$/.exec(duckType);
  if (dec) return `NUMBER(${dec[1]},${dec[2]})`;
  if (/^(DOUBLE|FLOAT)$/.test(duckType)) return 'FLOAT';
  if (duckType === 'BOOLEAN') return 'BOOLEAN';
  if (duckType === 'DATE') return 'DATE';
  if (duckType === 'TIMESTAMP WITH TIME ZONE') return 'TIMESTAMP_TZ(6)';
  if (/^TIMESTAMP/.test(duckType)) return 'TIMESTAMP_NTZ(6)';
  if (duckType === 'BLOB') return 'BINARY';
  return 'VARCHAR';
}
