import { z } from 'zod';
import { isDuration } from './duration';

// Identifiers end up quoted in SQL; restricting them here keeps every name a data engineer can type
// readable in the warehouse and rules out anything that could smuggle SQL through config.
const identifier = z.string().regex(/^[a-z_][a-z0-9_]*$/, 'must be a lower-case SQL identifier (a-z, 0-9, _)');
const duration = z.string().refine(isDuration, 'must be a duration such as 30s, 15m, 4h or 7d');
const severity = z.enum(['warn', 'error', 'critical']);

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
   * incremental: cursor window with lookback; full: whole table, only when its checksum changed (small
   * reference tables, or tables without a trustworthy cursor); cdc: logical replication slot.
   */
  mode: z.enum(['incremental', 'full', 'cdc']).default('incremental'),
  /** Incremental windows larger than this are read in primary-key-range chunks, each staged and heartbeated. */
  chunkRows: z.number().int().positive().default(1_000_000),
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

const checkBase = {
  /** Unique check name, shown in audit.dq_results and alerts. */
  name: identifier,
  /** warn records; error quarantines the failing rows and continues; critical blocks publish. */
  severity,
};

/** Declarative quality checks run against the shadow tables before publish. */
export const CheckSchema = z.discriminatedUnion('type', [
  z.object({ ...checkBase, type: z.literal('not_null'), model: identifier, columns: z.array(identifier).min(1) }),
  z.object({ ...checkBase, type: z.literal('unique'), model: identifier, columns: z.array(identifier).min(1) }),
  z.object({
    ...checkBase,
    type: z.literal('relationships'),
    model: identifier,
    column: identifier,
    /** Parent model and column every non-null value must exist in. */
    to: z.object({ model: identifier, column: identifier }),
  }),
  z.object({
    ...checkBase,
    type: z.literal('accepted_values'),
    model: identifier,
    column: identifier,
    values: z.array(z.string()).min(1),
  }),
  z.object({
    ...checkBase,
    type: z.literal('row_count_reconciliation'),
    /** Source tables to reconcile; all of the dataset's tables when omitted. */
    tables: z.array(identifier).optional(),
  }),
  z.object({
    ...checkBase,
    type: z.literal('totals_match'),
    model: identifier,
    groupBy: z.array(identifier).min(1),
    left: identifier,
    right: identifier,
    /** Allowed relative difference per group, e.g. 0.005 = 0.5%. */
    tolerance: z.number().min(0).max(1),
  }),
]);

/** A dataset: the unit a pipelineRun processes for one window. */
export const DatasetSchema = z.object({
  /** Dataset name; part of every workflow id (`<dataset>/window/<start>`). */
  name: identifier,
  /** How often the schedule fires; each run owns the window [fire - cadence, fire). */
  cadence: duration,
  /** Maximum age of certified data before an alert (source change → dashboard). */
  freshnessSla: duration,
  /** Overlap re-read before each window's start, absorbing clock skew and late commits. */
  lookback: duration.default('5m'),
  /** Name of the source in `sources`. */
  source: identifier,
  /** Tables extracted each window. */
  tables: z.array(SourceTableSchema).min(1),
  /** Mart models to build (their upstream models are built too) and publish as certified tables. */
  publish: z.array(identifier).min(1),
  /** Quality checks gating publish. */
  checks: z.array(CheckSchema).default([]),
  gate: z
    .object({
      /** How long a blocked run waits for retryGate/skipGate before failing. */
      timeout: duration.default('4h'),
    })
    .default({ timeout: '4h' }),
  /** BI extracts refreshed after publish; none means the refresh step is recorded as skipped. */
  bi: z
    .object({
      tableau: z
        .object({ datasources: z.array(z.string()).default([]), workbooks: z.array(z.string()).default([]) })
        .optional(),
    })
    .default({}),
});

/** The whole pipeline definition (config/pipeline.yaml). */
export const PipelineConfigSchema = z
  .object({
    sources: z.record(identifier, PostgresSourceSchema),
    datasets: z.array(DatasetSchema).min(1),
  })
  .superRefine((cfg, ctx) => {
    const names = new Set<string>();
    cfg.datasets.forEach((d, i) => {
      if (names.has(d.name)) ctx.addIssue({ code: 'custom', path: ['datasets', i, 'name'], message: `duplicate dataset '${d.name}'` });
      names.add(d.name);
      if (!cfg.sources[d.source]) {
        ctx.addIssue({
          code: 'custom',
          path: ['datasets', i, 'source'],
          message: `unknown source '${d.source}' (defined: ${Object.keys(cfg.sources).join(', ') || 'none'})`,
        });
      }
      const checkNames = new Set<string>();
      d.checks.forEach((c, j) => {
        if (checkNames.has(c.name)) ctx.addIssue({ code: 'custom', path: ['datasets', i, 'checks', j, 'name'], message: `duplicate check '${c.name}'` });
        checkNames.add(c.name);
      });
    });
  });

export type PipelineConfig = z.infer<typeof PipelineConfigSchema>;
export type DatasetConfig = z.infer<typeof DatasetSchema>;
export type SourceTableConfig = z.infer<typeof SourceTableSchema>;
export type PostgresSourceConfig = z.infer<typeof PostgresSourceSchema>;
export type CheckConfig = z.infer<typeof CheckSchema>;
export type Severity = z.infer<typeof severity>;

/** Formats a zod error as one line per problem, each naming the field path, e.g. `datasets[0].cadence: …`. */
export function formatIssues(error: z.ZodError, root = ''): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.reduce<string>(
        (acc, part) => (typeof part === 'number' ? `${acc}[${part}]` : acc ? `${acc}.${String(part)}` : String(part)),
        root,
      );
      return `${path || '(root)'}: ${issue.message}`;
    })
    .join('\n');
}
