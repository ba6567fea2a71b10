/** A row as read back from the warehouse: JSON-safe values (decimals and timestamps as strings). */
export type Row = Record<string, string | number | boolean | null>;

/** A bind value: every value in a statement is a parameter, never concatenated SQL. */
export type BindValue = string | number | boolean | null;

/** What every step needs from a warehouse; DuckDB is the embedded default, Snowflake the production one. */
export interface Warehouse {
  /** Dialect name, for the few places that differ (see dialect.ts). */
  readonly dialect: 'duckdb' | 'snowflake';
  /** Runs one statement; returns affected/produced row count where the engine reports it. */
  run(sql: string, params?: BindValue[]): Promise<number>;
  /** Runs a query and returns its rows as plain objects. */
  query<T extends Row = Row>(sql: string, params?: BindValue[]): Promise<T[]>;
  /** Runs `fn` in one transaction; rolls back if it throws. */
  transaction<T>(fn: (tx: Pick<Warehouse, 'run' | 'query'>) => Promise<T>): Promise<T>;
  /** Creates a schema if missing. */
  ensureSchema(schema: string): Promise<void>;
  /** True when the table exists. */
  tableExists(schema: string, table: string): Promise<boolean>;
  /** Releases the connection / file. */
  close(): Promise<void>;
  /**
   * A view of this warehouse whose statements carry `tag` (Snowflake: QUERY_TAG, merged with the
   * session's), so the engine's query history says which run issued what. Absent on DuckDB.
   */
  withQueryTag?(tag: { [key: string]: string }): Warehouse;
  /**
   * A connection for SQL written in config (custom_sql, metric_match checks): read-only, with no file or
   * network access, so such SQL cannot read the secrets file or change what it checks. Absent on
   * Snowflake, where that SQL runs as the worker role and its grants are the bound (see README).
   */
  sandbox?(): Promise<SandboxReader>;
}

/** A read-only, no-file-access reader; close it when done. */
export interface SandboxReader {
  query<T extends Row = Row>(sql: string, params?: BindValue[]): Promise<T[]>;
  close(): void;
}
