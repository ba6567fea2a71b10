import { mkdirSync } from 'node:fs';
import { basename, dirname, extname } from 'node:path';
import { DuckDBConnection, DuckDBInstance, type DuckDBValue } from '@duckdb/node-api';
import { quoteIdent, quoteLiteral } from '../sql';
import type { BindValue, Row, SandboxReader, Warehouse } from '../warehouse';

/**
 * DuckDB warehouse (embedded default). DuckDB allows one writing process per file and detects
 * write-write conflicts optimistically; Freshline's activities run concurrently, so statements are
 * serialised through one connection with a queue: no conflicts, and DuckDB still parallelises each
 * statement internally.
 */
export class DuckDbWarehouse implements Warehouse {
  readonly dialect = 'duckdb' as const;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
    /** Path of the database file, or ':memory:'. */
    readonly path: string,
  ) {}

  /** Opens (creating if needed) the DuckDB file at `path`. */
  static async open(
    path: string,
    options: {
      threads?: number;
      memoryLimit?: string;
      /** Return freed memory to the OS above this peak (DuckDB allocator_flush_threshold). */ flushThreshold?: string;
    } = {},
  ): Promise<DuckDbWarehouse> {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const settings: Record<string, string> = {};
    if (options.threads) settings.threads = String(options.threads);
    if (options.memoryLimit) settings.memory_limit = options.memoryLimit;
    if (options.flushThreshold) settings.allocator_flush_threshold = options.flushThreshold;
    const instance = await DuckDBInstance.create(path, settings);
    const connection = await instance.connect();
    // Session time zone UTC so TIMESTAMPTZ renders the same on every machine (set after connect: the
    // ICU extension that owns this setting is only loaded by then).
    await connection.run("SET TimeZone = 'UTC'");
    return new DuckDbWarehouse(instance, connection, path);
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async runRaw(sql: string, params?: BindValue[]): Promise<number> {
    const result = await this.connection.run(sql, params as DuckDBValue[] | undefined);
    return Number(result.rowsChanged);
  }

  private async queryRaw<T extends Row>(sql: string, params?: BindValue[]): Promise<T[]> {
    const reader = await this.connection.runAndReadAll(sql, params as DuckDBValue[] | undefined);
    return reader.getRowObjectsJson() as T[];
  }

  run(sql: string, params?: BindValue[]): Promise<number> {
    return this.exclusive(() => this.runRaw(sql, params));
  }

  query<T extends Row = Row>(sql: string, params?: BindValue[]): Promise<T[]> {
    return this.exclusive(() => this.queryRaw<T>(sql, params));
  }

  transaction<T>(fn: (tx: Pick<Warehouse, 'run' | 'query'>) => Promise<T>): Promise<T> {
    return this.exclusive(async () => {
      await this.runRaw('BEGIN TRANSACTION');
      try {
        const out = await fn({ run: (s, p) => this.runRaw(s, p), query: (s, p) => this.queryRaw(s, p) });
        await this.runRaw('COMMIT');
        return out;
      } catch (err) {
        await this.runRaw('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
  }

  /**
   * A second, read-only use connection on the same database, outside the write queue: what a BI tool
   * reading concurrently sees (each query one MVCC snapshot of committed data).
   */
  async reader(): Promise<{
    query<T extends Row = Row>(sql: string, params?: BindValue[]): Promise<T[]>;
    close(): void;
  }> {
    const connection = await this.instance.connect();
    await connection.run("SET TimeZone = 'UTC'");
    return {
      query: async <T extends Row = Row>(sql: string, params?: BindValue[]) =>
        (await connection.runAndReadAll(sql, params as DuckDBValue[] | undefined)).getRowObjectsJson() as T[],
      close: () => connection.closeSync(),
    };
  }

  /**
   * A separate in-memory DuckDB that attaches this file READ_ONLY under its usual catalog name, then
   * disables external access and locks its configuration: enable_external_access and access_mode are
   * global settings, so the write instance (which must read the stage) cannot be restricted per connection.
   */
  async sandbox(): Promise<SandboxReader> {
    if (this.path === ':memory:') throw new Error('checks with SQL from config need a file-backed DuckDB warehouse');
    // The read-only attach sees what is checkpointed: flush the shadow tables just written.
    await this.run('CHECKPOINT');
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    try {
      const catalog = basename(this.path, extname(this.path));
      await connection.run(`ATTACH ${quoteLiteral(this.path, 'duckdb')} AS ${quoteIdent(catalog)} (READ_ONLY)`);
      await connection.run(`USE ${quoteIdent(catalog)}`);
      await connection.run("SET TimeZone = 'UTC'");
      await connection.run('SET enable_external_access = false');
      await connection.run('SET lock_configuration = true');
    } catch (err) {
      connection.closeSync();
      instance.closeSync();
      throw err;
    }
    return {
      query: async <T extends Row = Row>(sql: string, params?: BindValue[]) =>
        (await connection.runAndReadAll(sql, params as DuckDBValue[] | undefined)).getRowObjectsJson() as T[],
      close: () => {
        connection.closeSync();
        instance.closeSync();
      },
    };
  }

  async ensureSchema(schema: string): Promise<void> {
    await this.run(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
  }

  async tableExists(schema: string, table: string): Promise<boolean> {
    const rows = await this.query(
      'SELECT count(*)::INTEGER AS n FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2',
      [schema, table],
    );
    return Number(rows[0]?.n) > 0;
  }

  async close(): Promise<void> {
    await this.exclusive(async () => {
      this.connection.closeSync();
      this.instance.closeSync();
    });
  }
}
