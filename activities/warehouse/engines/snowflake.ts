import type { Connection, ConnectionOptions, RowStatement, SnowflakeError } from 'snowflake-sdk';
import type { SecretStore } from '../../secrets/secret-store';
import { snowflakeSdk } from './snowflake-driver';
import { FETCH_AS_STRING, normaliseColumnName, toRow } from './snowflake-rows';
import {
  firstLine,
  mergeQueryTags,
  type QueryTag,
  serialiseQueryTag,
  snowflakeStringLiteral,
  toSnowflakePlaceholders,
} from './snowflake-sql';
import { quoteIdent } from '../sql';
import type { BindValue, Row, Warehouse } from '../warehouse';

export type { QueryTag } from './snowflake-sql';

/** How Freshline connects to Snowflake; credentials are named secrets, never values. */
export interface SnowflakeWarehouseOptions {
  /** Account identifier, e.g. `myorg-myaccount` or a locator such as `xy12345.us-east-1`. */
  account: string;
  /** Login name of the (service) user. */
  username: string;
  /** Role the session assumes. */
  role?: string;
  /** Virtual warehouse that runs the session's statements. */
  warehouse?: string;
  /** Session database: resolves unqualified names and INFORMATION_SCHEMA. */
  database?: string;
  /** Session schema for unqualified names. */
  schema?: string;
  /** `SNOWFLAKE_JWT`: key-pair authentication (services); `SNOWFLAKE`: password. */
  authenticator: 'SNOWFLAKE_JWT' | 'SNOWFLAKE';
  /** Secret holding the private key PEM (PKCS#8 or PKCS#1), for SNOWFLAKE_JWT. */
  privateKeySecret?: string;
  /** Secret holding the passphrase of an encrypted private key, for SNOWFLAKE_JWT. */
  privateKeyPassphraseSecret?: string;
  /** Secret holding the password, for SNOWFLAKE. */
  passwordSecret?: string;
  /** Endpoint overriding the one derived from `account` (private link, or a test stand-in such as http://127.0.0.1:port). */
  accessUrl?: string;
  /** Session QUERY_TAG carried by every statement; objects are serialised as JSON. */
  queryTag?: QueryTag;
  /** Session STATEMENT_TIMEOUT_IN_SECONDS: Snowflake cancels statements running longer. */
  statementTimeoutSeconds?: number;
  /** Most sessions the worker opens (default 4): concurrent activities get their own, opened as needed. */
  sessions?: number;
}

/** A failed Snowflake call: the server's error code and SQLSTATE, the statement's first line, no credentials. */
export class SnowflakeWarehouseError extends Error {
  override readonly name = 'SnowflakeWarehouseError';
  /** Snowflake error code, e.g. `002003` (object does not exist) or `390144` (JWT invalid). */
  readonly code: string | undefined;
  /** ANSI SQLSTATE when the server sent one, e.g. `42S02`. */
  readonly sqlState: string | undefined;
  /** Query id, for QUERY_HISTORY, when the statement got that far. */
  readonly queryId: string | undefined;
  /** First line of the failing statement, or `login of user '…' on account '…'`. */
  readonly statement: string;

  constructor(fields: { code?: string; sqlState?: string; queryId?: string; statement: string; message: string }) {
    const where = [
      fields.code && `code ${fields.code}`,
      fields.sqlState && `SQLSTATE ${fields.sqlState}`,
      fields.queryId && `query ${fields.queryId}`,
    ]
      .filter(Boolean)
      .join(', ');
    super(`Snowflake ${where ? `error (${where})` : 'error'} in ${fields.statement}: ${fields.message}`);
    this.code = fields.code;
    this.sqlState = fields.sqlState;
    this.queryId = fields.queryId;
    this.statement = fields.statement;
  }
}

/** Login failures a rotated credential could fix: wrong password (390100), JWT not accepted (390144). */
const AUTH_FAILURE_CODES = new Set(['390100', '390144']);

interface Executed {
  statement: RowStatement;
  rows: unknown[][];
}

/**
 * One Snowflake session: the connection, a queue that runs its statements one at a time (a session has
 * one transaction and one QUERY_TAG at a time, so interleaving would mix them up), and the tag the
 * session currently carries (undefined when unknown, e.g. after a failed ALTER SESSION).
 */
class SnowflakeSession {
  private queue: Promise<unknown> = Promise.resolve();
  private currentTag: string | null | undefined = null;
  private closed = false;
  /** Units of work queued or running on this session (the pool gives new work to the least busy). */
  pending = 0;

  constructor(private readonly connection: Connection) {}

  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.pending++;
    const next = this.queue.then(fn, fn).finally(() => this.pending--);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Sets the session's QUERY_TAG when it differs from `tag`; call inside `exclusive`. */
  async useTag(tag: string | null): Promise<void> {
    if (tag === this.currentTag) return;
    this.currentTag = undefined;
    await this.execute(
      tag === null ? 'ALTER SESSION UNSET QUERY_TAG' : `ALTER SESSION SET QUERY_TAG = ${snowflakeStringLiteral(tag)}`,
    );
    this.currentTag = tag;
  }

  /** Runs one statement and collects its rows (array mode); call inside `exclusive`. */
  execute(sql: string, params?: BindValue[]): Promise<Executed> {
    if (this.closed) return Promise.reject(new Error('Snowflake warehouse is closed'));
    const binds = params && params.length > 0 ? params : undefined;
    const sqlText = binds ? toSnowflakePlaceholders(sql) : sql;
    return new Promise<Executed>((resolve, reject) => {
      try {
        this.connection.execute({
          sqlText,
          binds,
          rowMode: 'array',
          fetchAsString: FETCH_AS_STRING,
          complete: (err, statement, rows) => {
            if (err) reject(toWarehouseError(err, firstLine(sql)));
            else resolve({ statement, rows: (rows ?? []) as unknown[][] });
          },
        });
      } catch (err) {
        reject(toWarehouseError(err, firstLine(sql)));
      }
    });
  }

  /** Ends the server session (POST /session?delete=true) and releases sockets; idempotent. */
  close(): Promise<void> {
    return this.exclusive(async () => {
      if (this.closed) return;
      this.closed = true;
      await new Promise<void>((resolve, reject) => {
        this.connection.destroy((err) => (err ? reject(toWarehouseError(err, '(logout)')) : resolve()));
      });
    });
  }
}

/**
 * The worker's sessions: one is opened at connect, more (up to `max`) when every open one is busy, so a
 * one-minute activity never waits behind another activity's 20-minute MERGE. Work goes to an idle session,
 * else a new one, else the least busy.
 */
class SessionPool {
  private readonly sessions: SnowflakeSession[] = [];
  private opening: Promise<SnowflakeSession> | undefined;

  constructor(
    first: SnowflakeSession,
    private readonly max: number,
    private readonly open: () => Promise<SnowflakeSession>,
  ) {
    this.sessions.push(first);
  }

  /**
   * Runs `fn` on a session chosen now: an idle one, else a newly opened one, else the least busy. `chosen`
   * hears which before `fn` is queued. The choice and the queueing happen without a pause in between, so
   * concurrent callers never all take the same "idle" session.
   */
  async exclusive<T>(
    fn: (session: SnowflakeSession) => Promise<T>,
    chosen?: (session: SnowflakeSession) => void,
  ): Promise<T> {
    const use = (session: SnowflakeSession) => {
      chosen?.(session);
      return session.exclusive(() => fn(session));
    };
    for (;;) {
      const idle = this.sessions.find((s) => s.pending === 0);
      if (idle) return use(idle);
      if (this.sessions.length >= this.max) break;
      // One login at a time; a failed login leaves the open sessions to share the work.
      this.opening ??= this.open()
        .then((session) => (this.sessions.push(session), session))
        .finally(() => (this.opening = undefined));
      if (!(await this.opening.catch(() => undefined))) break;
    }
    return use(this.sessions.reduce((a, b) => (b.pending < a.pending ? b : a)));
  }

  get size(): number {
    return this.sessions.length;
  }

  async close(): Promise<void> {
    await this.opening?.catch(() => undefined);
    await Promise.all(this.sessions.map((s) => s.close()));
  }
}

/**
 * Snowflake warehouse (production). A pool of sessions per worker (see SessionPool): a `withQueryTag` view
 * (one per activity) keeps the session it first got, so its temporary tables and transaction stay on one
 * session and its statements run in order; the root object picks a session per call. Every statement runs
 * under the QUERY_TAG of the object it was issued through. Rows: see snowflake-rows.ts (lower-cased unquoted column names, exact decimals
 * as strings, ISO timestamps). The session runs in UTC, like the DuckDB adapter.
 */
export class SnowflakeWarehouse implements Warehouse {
  readonly dialect = 'snowflake' as const;

  /** A view's session, fixed on its first statement (the root object has none: it picks per call). */
  private pinned: SnowflakeSession | undefined;
  /** Settles once `pinned` is set, for statements issued while the first one is still choosing. */
  private pinning: Promise<void> | undefined;

  private constructor(
    private readonly pool: SessionPool,
    /** Tag as given (objects merge in `withQueryTag`). */
    private readonly tag: QueryTag | undefined,
    /** The serialised tag this view's statements carry. */
    private readonly tagText: string | null,
    /** Only the object returned by `connect` owns (and closes) the session. */
    private readonly owner: boolean,
  ) {}

  /** Runs `fn` alone on this object's session (see the class comment). */
  private async exclusive<T>(fn: (session: SnowflakeSession) => Promise<T>): Promise<T> {
    if (this.owner) return this.pool.exclusive(fn);
    if (!this.pinned && this.pinning) await this.pinning;
    const pinned = this.pinned;
    if (pinned) return pinned.exclusive(() => fn(pinned));
    let settle = () => {};
    this.pinning = new Promise<void>((resolve) => (settle = resolve));
    try {
      return await this.pool.exclusive(fn, (session) => {
        this.pinned = session;
        settle();
      });
    } finally {
      settle();
    }
  }

  /** Sessions open now (at most `sessions`). */
  get openSessions(): number {
    return this.pool.size;
  }

  /**
   * Logs in (key pair or password from `secrets`), then sets QUERY_TAG, TIMEZONE=UTC,
   * QUOTED_IDENTIFIERS_IGNORE_CASE=TRUE and the statement timeout.
   */
  static async connect(options: SnowflakeWarehouseOptions, secrets: SecretStore): Promise<SnowflakeWarehouse> {
    checkOptions(options);
    const tagText = options.queryTag === undefined ? null : serialiseQueryTag(options.queryTag);
    const first = await openSession(options, secrets, tagText);
    const pool = new SessionPool(first, options.sessions ?? 4, () => openSession(options, secrets, tagText));
    return new SnowflakeWarehouse(pool, options.queryTag, tagText, true);
  }

  /**
   * A view of this warehouse whose statements run with `tag` (merged into this one's when both are
   * objects, so `{ app }` + `{ dataset, runId }` tags all three). Shares the connection and queue; the
   * session's QUERY_TAG is switched with ALTER SESSION only when the next statement needs a different one.
   */
  withQueryTag(tag: QueryTag): SnowflakeWarehouse {
    const merged = mergeQueryTags(this.tag, tag);
    return new SnowflakeWarehouse(this.pool, merged, serialiseQueryTag(merged), false);
  }

  /** The QUERY_TAG text this object's statements carry (null when none). */
  get queryTag(): string | null {
    return this.tagText;
  }

  private async runRaw(session: SnowflakeSession, sql: string, params?: BindValue[]): Promise<number> {
    await session.useTag(this.tagText);
    const { statement, rows } = await session.execute(sql, params);
    const updated = statement.getNumUpdatedRows();
    if (updated !== undefined && updated >= 0) return updated;
    // COPY INTO reports per-file counts in ROWS_LOADED instead of an updated-rows total.
    const loaded = (statement.getColumns() ?? []).findIndex((c) => c.getName().toUpperCase() === 'ROWS_LOADED');
    return loaded < 0 ? 0 : rows.reduce((sum, row) => sum + Number(row[loaded] ?? 0), 0);
  }

  private async queryRaw<T extends Row>(session: SnowflakeSession, sql: string, params?: BindValue[]): Promise<T[]> {
    await session.useTag(this.tagText);
    const { statement, rows } = await session.execute(sql, params);
    const columns = statement.getColumns() ?? [];
    const names = columns.map((c) => normaliseColumnName(c.getName()));
    return rows.map((values) => toRow(columns, names, values) as T);
  }

  /** Runs one statement; returns rows inserted/updated/deleted (DML), rows loaded (COPY), else 0. */
  run(sql: string, params?: BindValue[]): Promise<number> {
    return this.exclusive((session) => this.runRaw(session, sql, params));
  }

  /** Runs a query; rows as plain JSON-safe objects (see snowflake-rows.ts). */
  query<T extends Row = Row>(sql: string, params?: BindValue[]): Promise<T[]> {
    return this.exclusive((session) => this.queryRaw<T>(session, sql, params));
  }

  /**
   * BEGIN … COMMIT on the one session, ROLLBACK if `fn` throws. Note that Snowflake commits implicitly
   * around DDL (CREATE, ALTER, DROP), so only DML inside `fn` is atomic.
   */
  transaction<T>(fn: (tx: Pick<Warehouse, 'run' | 'query'>) => Promise<T>): Promise<T> {
    return this.exclusive(async (session) => {
      await session.useTag(this.tagText);
      await session.execute('BEGIN TRANSACTION');
      try {
        const out = await fn({
          run: (s, p) => this.runRaw(session, s, p),
          query: (s, p) => this.queryRaw(session, s, p),
        });
        await session.execute('COMMIT');
        return out;
      } catch (err) {
        await session.execute('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
  }

  async ensureSchema(schema: string): Promise<void> {
    await this.run(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
  }

  async tableExists(schema: string, table: string): Promise<boolean> {
    // Upper-cased: under QUOTED_IDENTIFIERS_IGNORE_CASE the catalog holds our quoted names upper-case.
    const rows = await this.query(
      'SELECT COUNT(*) AS n FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = UPPER($1) AND TABLE_NAME = UPPER($2)',
      [schema, table],
    );
    return Number(rows[0]?.n) > 0;
  }

  /** Ends every session; on a `withQueryTag` view this does nothing (the pool belongs to its creator). */
  async close(): Promise<void> {
    if (this.owner) await this.pool.close();
  }
}

/**
 * Logs in (key pair or password from `secrets`), then sets QUERY_TAG, TIMEZONE=UTC,
 * QUOTED_IDENTIFIERS_IGNORE_CASE=TRUE and the statement timeout.
 */
async function openSession(
  options: SnowflakeWarehouseOptions,
  secrets: SecretStore,
  tagText: string | null,
): Promise<SnowflakeSession> {
  const connection = await login(options, secrets);
  const session = new SnowflakeSession(connection);
  try {
    await session.exclusive(async () => {
      await session.useTag(tagText);
      await session.execute("ALTER SESSION SET TIMEZONE = 'UTC'");
      // Freshline quotes every name it writes (quoteIdent: "raw"."shop__orders"), while models and
      // admins write names unquoted (raw.shop__orders, which Snowflake upper-cases). Quoted names are
      // case-sensitive by default, so the two would be different objects; with this setting quoted
      // names are stored and resolved upper-case too, and both spellings reach the same table. (The
      // catalog therefore holds them upper-case: lookups by name upper-case the name, see dialect.ts.)
      await session.execute('ALTER SESSION SET QUOTED_IDENTIFIERS_IGNORE_CASE = TRUE');
      if (options.statementTimeoutSeconds !== undefined) {
        await session.execute(`ALTER SESSION SET STATEMENT_TIMEOUT_IN_SECONDS = ${options.statementTimeoutSeconds}`);
      }
    });
  } catch (err) {
    await session.close().catch(() => undefined);
    throw err;
  }
  return session;
}

function checkOptions(options: SnowflakeWarehouseOptions): void {
  const missing = (field: keyof SnowflakeWarehouseOptions) =>
    new Error(`Snowflake ${options.authenticator} authentication needs option '${field}' (the name of a secret)`);
  if (!options.account || !options.username) throw new Error("Snowflake options 'account' and 'username' are required");
  if (options.authenticator !== 'SNOWFLAKE_JWT' && options.authenticator !== 'SNOWFLAKE') {
    throw new Error(
      `Snowflake authenticator must be 'SNOWFLAKE_JWT' or 'SNOWFLAKE', not '${String(options.authenticator)}'`,
    );
  }
  if (options.authenticator === 'SNOWFLAKE_JWT' && !options.privateKeySecret) throw missing('privateKeySecret');
  if (options.authenticator === 'SNOWFLAKE' && !options.passwordSecret) throw missing('passwordSecret');
  const sessions = options.sessions;
  if (sessions !== undefined && !(Number.isInteger(sessions) && sessions >= 1))
    throw new Error(`Snowflake sessions must be a whole number ≥ 1, not ${sessions}`);
  const timeout = options.statementTimeoutSeconds;
  if (timeout !== undefined && !(Number.isInteger(timeout) && timeout >= 0)) {
    throw new Error(`Snowflake statementTimeoutSeconds must be a whole number of seconds ≥ 0, not ${timeout}`);
  }
}

/** Secret names this login reads, in the order it reads them. */
function secretNames(options: SnowflakeWarehouseOptions): string[] {
  if (options.authenticator === 'SNOWFLAKE') return [options.passwordSecret as string];
  return [
    options.privateKeySecret as string,
    ...(options.privateKeyPassphraseSecret ? [options.privateKeyPassphraseSecret] : []),
  ];
}

/** Logs in; after an authentication failure, refreshes the secrets once (rotation) when the store can. */
async function login(options: SnowflakeWarehouseOptions, secrets: SecretStore): Promise<Connection> {
  try {
    return await loginOnce(options, secrets);
  } catch (err) {
    if (!(err instanceof SnowflakeWarehouseError && AUTH_FAILURE_CODES.has(err.code ?? '')) || !secrets.refresh)
      throw err;
    for (const name of secretNames(options)) await secrets.refresh(name);
    return loginOnce(options, secrets);
  }
}

async function loginOnce(options: SnowflakeWarehouseOptions, secrets: SecretStore): Promise<Connection> {
  const values = await Promise.all(secretNames(options).map((name) => secrets.get(name)));
  const credentials: Partial<ConnectionOptions> =
    options.authenticator === 'SNOWFLAKE'
      ? { password: values[0] }
      : { privateKey: values[0], privateKeyPass: values[1] };
  const sdk = snowflakeSdk();
  const redact = (text: string) =>
    values.reduce((t, secret) => (secret ? t.split(secret).join('[redacted]') : t), text);
  const where = `login of user '${options.username}' on account '${options.account}'`;
  let connection: Connection;
  try {
    connection = sdk.createConnection({
      account: options.account,
      username: options.username,
      role: options.role,
      warehouse: options.warehouse,
      database: options.database,
      schema: options.schema,
      accessUrl: options.accessUrl,
      authenticator: options.authenticator,
      ...credentials,
      application: 'Freshline',
      // A worker holds its session for days; the heartbeat keeps Snowflake from expiring it when idle.
      clientSessionKeepAlive: true,
      // With fetchAsString the driver would otherwise turn SQL NULL into the text 'NULL'.
      representNullAsStringNull: false,
    });
  } catch (err) {
    throw toWarehouseError(err, where, redact);
  }
  await new Promise<void>((resolve, reject) => {
    connection.connect((err) => (err ? reject(toWarehouseError(err, where, redact)) : resolve()));
  });
  return connection;
}

/** Wraps a driver error: code, SQLSTATE, query id and statement line kept; response bodies and stacks of requests dropped. */
function toWarehouseError(
  err: unknown,
  statement: string,
  redact: (text: string) => string = (t) => t,
): SnowflakeWarehouseError {
  const e = (err ?? {}) as Partial<SnowflakeError>;
  const queryId = typeof e.data?.queryId === 'string' ? e.data.queryId : undefined;
  return new SnowflakeWarehouseError({
    code: e.code === undefined || e.code === null ? undefined : String(e.code),
    sqlState: e.sqlState || undefined,
    queryId,
    statement,
    message: redact(e.message || String(err)),
  });
}
