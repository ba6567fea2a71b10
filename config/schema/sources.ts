import { z } from 'zod';
import { duration, identifier } from './common';

/** One source table and how to extract it. */
export const SourceTableSchema = z.object({
  /** Table name in the source schema. */
  name: identifier,
  /** Source schema (PostgreSQL namespace). */
  schema: identifier.default('public'),
  /** Primary key columns; raw keeps one row per (key, cursor) version. */
  primaryKey: z.array(identifier).min(1),
  /** Monotonic change cursor (a trigger-maintained updated_at). */
  cursor: identifier.default('updated_at'),
  /** Columns holding PII: replaced by keyed HMAC-SHA256 tokens at extraction, before staging. */
  pii: z.array(identifier).default([]),
  /** Columns never extracted at all (e.g. PCI data we must not hold). */
  exclude: z.array(identifier).default([]),
  /**
   * Columns accepted as not PII. In a table with `pii` or `exclude`, a column added at the source is held
   * (not loaded) until it is listed in `pii`, `exclude` or here.
   */
  allowed: z.array(identifier).default([]),
  /**
   * incremental: cursor window with lookback; full: whole table, only when its checksum changed (small
   * reference tables, or tables without a trustworthy cursor); cdc: logical replication slot.
   */
  mode: z.enum(['incremental', 'full', 'cdc']).default('incremental'),
  /** Incremental windows larger than this are read in primary-key-range chunks, each staged and heartbeated. */
  chunkRows: z.number().int().positive().default(1_000_000),
  /**
   * Business-date column (e.g. order_date): a `reload` backfill re-reads the rows whose business date
   * falls in each partition, whatever their cursor says; without it, reload reads the cursor window.
   */
  businessDate: identifier.optional(),
  /**
   * A child table (order lines, payments…) partitioned by its parent's business date: a `reload` re-reads
   * the rows whose `on` column names a parent row (`table`, same dataset) whose business date falls in the
   * partition, so the order and all its children are reloaded together, whatever their cursors say.
   */
  partitionOf: z.object({ table: identifier, on: identifier }).strict().optional(),
  /** Staged Parquet files are split at about this size (Snowflake loads 100–250 MB compressed files best). */
  fileSizeMB: z.number().positive().default(128),
});

/** A PostgreSQL source: its connection comes from the secret store, never from the config file. */
export const PostgresSourceSchema = z.object({
  type: z.literal('postgres'),
  /** Name of the secret holding the connection URL (read replica in production). */
  urlSecret: z.string().min(1),
  /** Per-statement timeout on the source, so a runaway extract cannot hurt OLTP. */
  statementTimeout: duration.default('15m'),
  /** Lock wait limit; extraction only ever needs ACCESS SHARE. */
  lockTimeout: duration.default('5s'),
  /** Concurrent extracts (= source connections) per worker, on the source's own task queue. */
  maxConcurrentExtracts: z.number().int().positive().default(2),
  /** Optional cap on extract starts per second across ALL workers (Temporal task queue rate limit). */
  maxExtractsPerSecond: z.number().positive().optional(),
  /**
   * Optional cap on how fast each extract reads (MB/s of COPY output), for sources without a replica:
   * the primary spends at most this much of its CPU and I/O on us (bench/oltp-impact.ts measures it).
   */
  maxReadMBPerSecond: z.number().positive().optional(),
  /** Logical replication slot and publication for `mode: cdc` tables (default freshline_<source>). */
  cdc: z.object({ slot: identifier, publication: identifier }).optional(),
});

export type SourceTableConfig = z.infer<typeof SourceTableSchema>;
export type PostgresSourceConfig = z.infer<typeof PostgresSourceSchema>;
