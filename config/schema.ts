import { z } from 'zod';
import { isDuration, parseDuration } from './duration';

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
  /**
   * Business-date column (e.g. order_date): a `reload` backfill re-reads the rows whose business date
   * falls in each partition, whatever their cursor says; without it, reload reads the cursor window.
   */
  businessDate: identifier.optional(),
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

/** When an `error` check fails on too many rows, it escalates to critical (blocks publish). */
const escalation = z
  .object({
    /** More failing rows than this escalates. */
    rows: z.number().int().nonnegative().optional(),
    /** A larger fraction of the model's rows than this escalates, e.g. 0.005 = 0.5%. */
    fraction: z.number().min(0).max(1).optional(),
  })
  .refine((e) => e.rows !== undefined || e.fraction !== undefined, 'give rows or fraction (or both)');

const checkBase = {
  /** Unique check name, shown in audit.dq_results and alerts. */
  name: identifier,
  /** warn records; error quarantines the failing rows and continues; critical blocks publish. */
  severity,
  /** Row checks of severity error: escalate to critical above this many (or this fraction of) failing rows. */
  escalateAbove: escalation.optional(),
};

/** A SQL type name as information_schema spells it (BIGINT, VARCHAR, DECIMAL(14,2), TIMESTAMP WITH TIME ZONE, …). */
const sqlType = z
  .string()
  .regex(/^[A-Z][A-Z0-9 ]*(\(\d+(,\s*\d+)?\))?$/, 'must be an upper-case SQL type such as BIGINT or DECIMAL(14,2)');

/** Declarative quality checks run against the shadow tables before publish. */
export const CheckSchema = z.discriminatedUnion('type', [
  z.object({ ...checkBase, type: z.literal('not_null'), model: identifier, columns: z.array(identifier).min(1) }),
  /** One key (single or composite) per row. */
  z.object({ ...checkBase, type: z.literal('unique'), model: identifier, columns: z.array(identifier).min(1) }),
  z.object({
    ...checkBase,
    type: z.literal('relationships'),
    model: identifier,
    column: identifier,
    /** Parent model and column every non-null value must exist in. */
    to: z.object({ model: identifier, column: identifier }),
    /**
     * SCD2 parents: the value must exist in a version valid at the child's `at` column
     * (parent.validFrom <= child.at < parent.validTo, validTo NULL = current).
     */
    asOf: z.object({ at: identifier, validFrom: identifier, validTo: identifier }).optional(),
  }),
  z.object({
    ...checkBase,
    type: z.literal('accepted_values'),
    model: identifier,
    column: identifier,
    values: z.array(z.string()).min(1),
  }),
  /** Values outside [min, max] fail (NULLs are not_null's business). */
  z.object({
    ...checkBase,
    type: z.literal('range'),
    model: identifier,
    column: identifier,
    min: z.number().optional(),
    max: z.number().optional(),
  }),
  /** The fraction of NULLs in a column must stay at or below `max`. */
  z.object({
    ...checkBase,
    type: z.literal('null_rate'),
    model: identifier,
    column: identifier,
    max: z.number().min(0).max(1),
  }),
  /** Expected columns and types of a certified table; a missing or retyped column fails, naming it (added ones pass). */
  z.object({
    ...checkBase,
    type: z.literal('schema_contract'),
    model: identifier,
    columns: z.record(identifier, sqlType),
  }),
  /** Newest cursor value in raw vs now, per source table, against `maxAge` (default: the dataset's freshnessSla). */
  z.object({
    ...checkBase,
    type: z.literal('freshness'),
    /** Source tables to check; the dataset's incremental and cdc tables when omitted. */
    tables: z.array(identifier).optional(),
    maxAge: duration.optional(),
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
  /** Two single-number queries over models (`{{ ref('m') }}`) must agree within `tolerance` (relative). */
  z.object({
    ...checkBase,
    type: z.literal('metric_match'),
    left: z.string().min(1),
    right: z.string().min(1),
    tolerance: z.number().min(0).max(1).default(0),
  }),
  /** A window's source row count per table outside the trailing band of the same hour of day. */
  z.object({
    ...checkBase,
    type: z.literal('volume_anomaly'),
    tables: z.array(identifier).optional(),
    /** Days of history the band is drawn from. */
    days: z.number().int().positive().default(7),
    /** Fewer earlier windows than this at the same hour: the check passes and says there is not enough history. */
    minHistory: z.number().int().positive().default(3),
    /** The band is [min × (1 − slack), max × (1 + slack)] of the history. */
    slack: z.number().min(0).default(0.5),
  }),
  /**
   * A query returning failing rows (`{{ ref('m') }}` for models). With `model` and `key`, an `error`
   * check quarantines the model's rows whose key the query returns.
   */
  z.object({
    ...checkBase,
    type: z.literal('custom_sql'),
    sql: z.string().min(1),
    model: identifier.optional(),
    key: identifier.optional(),
  }),
]);

/** A Tableau content item: its name on the site, or its LUID when the name is ambiguous or may change. */
const tableauItem = z.union(
  [
    z.string().min(1, 'must be a name (or { luid })'),
    z
      .object({
        /** The item's LUID (Tableau's id, e.g. 9f1c…-…), as shown by the REST API. */
        luid: z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'must be a Tableau LUID (letters, digits and -)'),
      })
      .strict(),
  ],
  { error: 'must be a name or { luid: <id> }' },
);

/** Loopback hosts, where plain http is allowed (a local stand-in or an SSH tunnel); anything else must be https. */
const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/;

/** Where and what to refresh on Tableau Cloud or Server. Credentials are secret names, never values. */
export const TableauTargetSchema = z
  .object({
    /** Server URL, e.g. https://prod-uk-a.online.tableau.com or https://tableau.example.com (http only for localhost). */
    server: z.url('must be a URL such as https://tableau.example.com').refine((u) => {
      try {
        const url = new URL(u);
        return url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.test(url.hostname));
      } catch {
        return false;
      }
    }, 'must be an https URL (plain http only for localhost)'),
    /** Site content URL (the part after /site/ in the browser); '' is Tableau Server's default site. */
    site: z
      .string()
      .regex(/^[A-Za-z0-9_-]*$/, "must be a site content URL (letters, digits, - and _; '' for the default site)")
      .default(''),
    /** REST API version in the URL path, e.g. 3.25 (Tableau Server 2025.1 / Cloud). */
    apiVersion: z
      .string({
        error: "must be a quoted REST API version such as '3.25' (unquoted, YAML reads 3.10 as the number 3.1)",
      })
      .regex(/^\d+\.\d+$/, "must be a REST API version such as '3.25'")
      .default('3.25'),
    /** Name of the secret holding the personal access token's name. */
    patNameSecret: z
      .string({ error: 'required: the name of the secret holding the personal access token name' })
      .min(1, 'must name a secret'),
    /** Name of the secret holding the personal access token's secret value. */
    patSecretSecret: z
      .string({ error: 'required: the name of the secret holding the personal access token secret' })
      .min(1, 'must name a secret'),
    /** Published data sources whose extracts are refreshed: names or { luid }. */
    datasources: z.array(tableauItem).default([]),
    /** Workbooks whose embedded extracts are refreshed: names or { luid }. */
    workbooks: z.array(tableauItem).default([]),
    /** Refresh jobs running at once on the site (per worker process), so a dataset does not flood the backgrounders. */
    maxConcurrentRefreshes: z.number().int().positive().default(2),
    /** How often each refresh job is polled. */
    pollInterval: duration.default('15s'),
    /** A job not finished this long after it started (or was joined) fails its item. */
    jobTimeout: duration.default('2h'),
    /** A job that finishes failed or cancelled is started again up to this many times. */
    retries: z.number().int().min(0).max(10).default(2),
  })
  .superRefine((t, ctx) => {
    for (const kind of ['datasources', 'workbooks'] as const) {
      const seen = new Set<string>();
      t[kind].forEach((item, i) => {
        const key = typeof item === 'string' ? `name ${item}` : `luid ${item.luid}`;
        if (seen.has(key)) ctx.addIssue({ code: 'custom', path: [kind, i], message: `duplicate ${key}` });
        seen.add(key);
      });
    }
  });

/** Temporal's smallest catch-up window; shorter values are refused by the server. */
const MIN_CATCHUP_MS = 10_000;

/** A dataset's schedule settings (all optional). */
export const DatasetScheduleSchema = z.object({
  /**
   * How late a firing may still run after the Temporal service (or every worker's connection to it) was
   * down: windows whose nominal time is older than this when Temporal comes back are skipped, reported
   * by the freshness monitor as missed windows, and filled by the nightly reconciliation or a catch-up.
   */
  catchupWindow: duration
    .refine(
      (d) => !isDuration(d) || parseDuration(d) >= MIN_CATCHUP_MS,
      "must be at least 10s (Temporal's minimum catch-up window)",
    )
    .default('1h'),
  /**
   * true: the dataset's schedules (window and reconciliation) are created or kept paused by
   * `schedules apply`. An operator's `schedules pause` is not undone by apply; only a pause set here is.
   */
  paused: z.boolean().default(false),
});

/** Nightly by default: minute hour day-of-month month day-of-week, in UTC. */
export const DEFAULT_RECONCILIATION_CRON = '0 2 * * *';

const cronField = /^(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(\/\d+)?(,(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(\/\d+)?)*$/;
/** A 5-field cron expression evaluated in UTC, or one of @hourly @daily @weekly @monthly @yearly. */
const cron = z.string().refine(
  (s) =>
    /^@(hourly|daily|weekly|monthly|yearly)$/.test(s.trim()) ||
    (s.trim().split(/\s+/).length === 5 &&
      s
        .trim()
        .split(/\s+/)
        .every((f) => cronField.test(f))),
  "must be a 5-field cron expression in UTC such as '0 2 * * *' (minute hour day-of-month month day-of-week)",
);

/**
 * The nightly reconciliation: one schedule per dataset (`freshline/<dataset>/reconcile`) that reloads
 * the last `days` days by business-date partition, absorbing late corrections and any window the
 * regular schedule missed.
 */
export const ReconciliationSchema = z
  .object({
    /** When it fires, as a cron expression in UTC (default '0 2 * * *': nightly at 02:00 UTC). Give cron or every, not both. */
    cron: cron.optional(),
    /** Or a fixed interval instead of cron, e.g. 12h. */
    every: duration.optional(),
    /** How many days back from the firing time each reconciliation reloads. */
    days: z.number().int().min(1, 'must be at least 1 (day)').max(366, 'must be at most 366 (days)').default(7),
  })
  .superRefine((r, ctx) => {
    if (r.cron !== undefined && r.every !== undefined)
      ctx.addIssue({ code: 'custom', path: ['every'], message: 'give cron or every, not both' });
  });

/** Monitors that run on their own schedules, across datasets. */
export const MonitorsSchema = z.object({
  /**
   * The freshness monitor (`freshline/monitor/freshness`): compares each dataset's certified watermark
   * (newest window end of a published run) with its freshnessSla; alerts once per breach and once on recovery.
   */
  freshness: z
    .object({
      /** How often it runs. */
      every: duration.default('5m'),
    })
    .default({ every: '5m' }),
});

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
  /**
   * Datasets whose publish this one needs (e.g. finance marts read sales_core's): a run waits, durably,
   * until each has published a window ending at or after its own window's end, at most `timeout`.
   */
  dependsOn: z.array(z.object({ dataset: identifier, timeout: duration.default('2h') })).default([]),
  gate: z
    .object({
      /** How long a blocked run waits for retryGate/skipGate before failing. */
      timeout: duration.default('4h'),
    })
    .default({ timeout: '4h' }),
  /** Where a blocked gate, a gate timeout or a missed SLA is announced; without it alerts are only logged and audited. */
  alerts: z
    .object({
      /** Secret holding a Slack-compatible incoming-webhook URL (the URL is a credential). */
      webhookSecret: z.string().min(1).optional(),
    })
    .default({}),
  /** BI extracts refreshed after publish; none means the refresh step is recorded as skipped. */
  bi: z
    .object({
      /** How long a run whose BI refresh failed (state refresh_failed) waits for a retryRefresh signal before failing. */
      failedRefreshTimeout: duration.default('24h'),
      /** Tableau Cloud or Server extracts to refresh (REST API, personal access token). */
      tableau: TableauTargetSchema.optional(),
    })
    .default({ failedRefreshTimeout: '24h' }),
  /** How the dataset's Temporal Schedule (`freshline/<dataset>`) fires; `freshline schedules apply` applies it. */
  schedule: DatasetScheduleSchema.default({ catchupWindow: '1h', paused: false }),
});

// Names the Snowflake driver sends at login (role, warehouse, database): Snowflake's own identifier rules.
const snowflakeName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_$]*$/, 'must be a Snowflake identifier (letters, digits, _ and $)');
const s3Url = z
  .string()
  .regex(
    /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/[A-Za-z0-9_.=\/-]*)?$/,
    'must be an S3 URL such as s3://bucket/prefix/',
  );

/** The embedded default: one DuckDB file. */
export const DuckDbWarehouseSchema = z.object({
  /** Embedded DuckDB. */
  type: z.literal('duckdb'),
  /** DuckDB file, relative to the data directory; default `<data dir>/warehouse.duckdb`. */
  path: z.string().min(1).optional(),
});

const ipv4Cidr = z.string().refine((s) => {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(s);
  return !!m && m.slice(1, 5).every((o) => Number(o) <= 255) && (m[5] === undefined || Number(m[5]) <= 32);
}, 'must be an IPv4 address or CIDR range such as 203.0.113.7 or 203.0.113.0/24');
const snowflakeLogin = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.@$-]*$/, 'must be a Snowflake login name');

/**
 * What `freshline infra snowflake apply` creates and grants (infra/snowflake/*.sql): warehouses with a
 * resource monitor each, the schemas, the LOADER / TRANSFORMER / PII_ADMIN / BI roles and their grants,
 * the PII masking policy, and Tableau's key-pair service user behind a network policy.
 */
export const SnowflakeInfraSchema = z.object({
  /** Who applies: an administrator who may create roles, users, network policies and resource monitors. */
  admin: z
    .object({
      /** Login name of the administrator (default: warehouse.user). */
      user: snowflakeLogin.optional(),
      /** Role the apply session assumes (resource monitors need ACCOUNTADMIN); `--role` overrides. */
      role: snowflakeName.default('ACCOUNTADMIN'),
      /** Secret holding the administrator's private key PEM (key pair); default: warehouse.privateKeySecret. */
      privateKeySecret: z.string().min(1).optional(),
      /** Secret holding the administrator's password, for password login instead. */
      passwordSecret: z.string().min(1).optional(),
    })
    .default({ role: 'ACCOUNTADMIN' }),
  /** Names of the functional roles; default `<DATABASE>_LOADER`, `<DATABASE>_TRANSFORMER`, `<DATABASE>_PII_ADMIN`. */
  roles: z
    .object({
      loader: snowflakeName.optional(),
      transformer: snowflakeName.optional(),
      piiAdmin: snowflakeName.optional(),
    })
    .default({}),
  /** Size of both warehouses. */
  warehouseSize: z.enum(['XSMALL', 'SMALL', 'MEDIUM', 'LARGE', 'XLARGE']).default('XSMALL'),
  /** Idle seconds before a warehouse suspends (billing stops). */
  autoSuspendSeconds: z.number().int().min(60).default(60),
  /** Monthly credit quota of each warehouse's resource monitor: notify at 80%, suspend at 100%. */
  monthlyCredits: z
    .object({ pipeline: z.number().positive().default(100), bi: z.number().positive().default(50) })
    .default({ pipeline: 100, bi: 50 }),
  /** Tableau's service user: key pair only, from these addresses only, role warehouse.biRole. */
  tableau: z.object({
    /** User name. */
    user: snowflakeName.default('TABLEAU_SVC'),
    /** Secret holding Tableau's RSA public key (PEM); Tableau keeps the private key. */
    publicKeySecret: z.string().min(1),
    /** Addresses Tableau connects from: Tableau Cloud's egress ranges for your pod, or your Bridge hosts. */
    allowedIps: z.array(ipv4Cidr).min(1),
    /** Tableau's own warehouse (its own credit quota; never the pipeline's). */
    warehouse: snowflakeName.default('FRESHLINE_BI_WH'),
    /** Snowflake cancels a dashboard query running longer than this. */
    statementTimeout: duration.default('15m'),
  }),
});

/** Production: Snowflake, loading from an external S3 stage. Credentials are secret names, never values. */
export const SnowflakeWarehouseSchema = z.object({
  /** Snowflake through snowflake-sdk (activities/warehouse/snowflake.ts). */
  type: z.literal('snowflake'),
  /** Account identifier, e.g. `myorg-myaccount` (or a locator such as `xy12345.eu-west-1`). */
  account: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be a Snowflake account identifier such as myorg-myaccount'),
  /** Login name of the service user. */
  user: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.@$-]*$/, 'must be a Snowflake login name'),
  /** Role the worker's session assumes (owns raw, shadow, certified and bi). */
  role: snowflakeName,
  /** Virtual warehouse that runs Freshline's statements. */
  warehouse: snowflakeName,
  /** Database holding raw, shadow_*, certified, bi and audit. */
  database: snowflakeName,
  /** SNOWFLAKE_JWT: key-pair authentication (services); SNOWFLAKE: password. */
  authenticator: z.enum(['SNOWFLAKE_JWT', 'SNOWFLAKE']).default('SNOWFLAKE_JWT'),
  /** Secret holding the private key PEM; required for SNOWFLAKE_JWT. */
  privateKeySecret: z.string().min(1).optional(),
  /** Secret holding the passphrase of an encrypted private key (SNOWFLAKE_JWT). */
  privateKeyPassphraseSecret: z.string().min(1).optional(),
  /** Secret holding the password; required for SNOWFLAKE. */
  passwordSecret: z.string().min(1).optional(),
  /** Endpoint overriding the one derived from the account (private link, or a test stand-in). */
  accessUrl: z.url().optional(),
  /** The external stage COPY INTO reads the staged Parquet from (created in `raw` if missing). */
  externalStage: z.object({
    /** Stage name, e.g. freshline_stage. */
    name: identifier,
    /** The stage's S3 URL: the S3 stage's bucket and prefix, e.g. s3://bucket/freshline/stage/. */
    url: s3Url,
    /** Storage integration (created by an account admin) that lets Snowflake read the bucket. */
    storageIntegration: identifier,
  }),
  /** Role dashboards use: granted USAGE on `certified` and `bi` and SELECT on their tables and views after every publish. */
  biRole: identifier,
  /** Session STATEMENT_TIMEOUT_IN_SECONDS: Snowflake cancels statements running longer (default: the account's). */
  statementTimeout: duration.optional(),
  /** Roles, grants, masking, Tableau's user, warehouses: what `freshline infra snowflake apply` manages. */
  infra: SnowflakeInfraSchema.optional(),
});

/** Where the warehouse is: DuckDB (default) or Snowflake. */
export const WarehouseConfigSchema = z.discriminatedUnion('type', [DuckDbWarehouseSchema, SnowflakeWarehouseSchema]);

/** Where staged Parquet lives: a local directory (default) or S3. */
export const StageConfigSchema = z.discriminatedUnion('type', [
  z.object({
    /** `<data dir>/stage`. */
    type: z.literal('local'),
  }),
  z.object({
    /** An S3 bucket (credentials from the AWS SDK chain: environment, profile, instance or task role). */
    type: z.literal('s3'),
    /** Bucket holding the stage. */
    bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name'),
    /** Key prefix inside the bucket, e.g. freshline/stage (no leading or trailing slash). */
    prefix: z
      .string()
      .regex(
        /^[A-Za-z0-9_.=-]+(\/[A-Za-z0-9_.=-]+)*$/,
        'must be a key prefix such as freshline/stage (no leading or trailing slash)',
      ),
    /** AWS region of the bucket. */
    region: z.string().min(1),
    /** Endpoint of an S3-compatible server (MinIO, a test server); omit for AWS. */
    endpoint: z.url().optional(),
  }),
]);

/** Where secrets come from: the environment and `<data dir>/secrets.env` (default), or AWS Secrets Manager. */
export const SecretsConfigSchema = z.discriminatedUnion('type', [
  z.object({
    /** Environment variables, then `<data dir>/secrets.env`. */
    type: z.literal('env'),
  }),
  z.object({
    /** AWS Secrets Manager (credentials from the AWS SDK chain). */
    type: z.literal('aws'),
    /** AWS region holding the secrets. */
    region: z.string().min(1),
    /** Prepended to every secret name to form the secret id, e.g. freshline/prod/. */
    prefix: z.string().optional(),
    /** How long a fetched value is served before asking AWS again (default 5m). */
    ttl: duration.optional(),
  }),
]);

/** The whole pipeline definition (config/pipeline.yaml). */
export const PipelineConfigSchema = z
  .object({
    sources: z.record(identifier, PostgresSourceSchema),
    datasets: z.array(DatasetSchema).min(1),
    /** The warehouse raw, shadow, certified and bi live in (default: embedded DuckDB). */
    warehouse: WarehouseConfigSchema.default({ type: 'duckdb' }),
    /** Where extracts stage Parquet (default: a local directory). */
    stage: StageConfigSchema.default({ type: 'local' }),
    /** Where credentials come from (default: environment and secrets file). */
    secrets: SecretsConfigSchema.default({ type: 'env' }),
    /** How long audit rows (runs, check results, quarantined rows) are kept. */
    audit: z.object({ retention: duration.default('90d') }).default({ retention: '90d' }),
    /** Monitors with their own schedules (default: freshness every 5m). */
    monitors: MonitorsSchema.default({ freshness: { every: '5m' } }),
    /** The per-dataset reconciliation schedule (default: nightly at 02:00 UTC, last 7 days). */
    reconciliation: ReconciliationSchema.default({ cron: DEFAULT_RECONCILIATION_CRON, days: 7 }),
  })
  .superRefine((cfg, ctx) => {
    checkWarehouse(cfg, ctx);
    const names = new Set<string>();
    cfg.datasets.forEach((d, i) => {
      if (names.has(d.name))
        ctx.addIssue({ code: 'custom', path: ['datasets', i, 'name'], message: `duplicate dataset '${d.name}'` });
      names.add(d.name);
      if (!cfg.sources[d.source]) {
        ctx.addIssue({
          code: 'custom',
          path: ['datasets', i, 'source'],
          message: `unknown source '${d.source}' (defined: ${Object.keys(cfg.sources).join(', ') || 'none'})`,
        });
      }
      d.dependsOn.forEach((dep, j) => {
        if (dep.dataset === d.name)
          ctx.addIssue({
            code: 'custom',
            path: ['datasets', i, 'dependsOn', j, 'dataset'],
            message: 'a dataset cannot depend on itself',
          });
        else if (!cfg.datasets.some((o) => o.name === dep.dataset)) {
          ctx.addIssue({
            code: 'custom',
            path: ['datasets', i, 'dependsOn', j, 'dataset'],
            message: `unknown dataset '${dep.dataset}' (defined: ${cfg.datasets.map((o) => o.name).join(', ')})`,
          });
        }
      });
      const checkNames = new Set<string>();
      d.checks.forEach((c, j) => {
        if (checkNames.has(c.name))
          ctx.addIssue({
            code: 'custom',
            path: ['datasets', i, 'checks', j, 'name'],
            message: `duplicate check '${c.name}'`,
          });
        checkNames.add(c.name);
      });
    });
  });

/** Cross-field rules of the warehouse section: credentials per authenticator, and a stage Snowflake can read. */
function checkWarehouse(
  cfg: { warehouse: z.infer<typeof WarehouseConfigSchema>; stage: z.infer<typeof StageConfigSchema> },
  ctx: z.RefinementCtx,
): void {
  const wh = cfg.warehouse;
  if (wh.type !== 'snowflake') return;
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  if (wh.authenticator === 'SNOWFLAKE_JWT' && !wh.privateKeySecret) {
    issue(
      ['warehouse', 'privateKeySecret'],
      'required when authenticator is SNOWFLAKE_JWT (the name of the secret holding the private key PEM)',
    );
  }
  if (wh.authenticator === 'SNOWFLAKE' && !wh.passwordSecret) {
    issue(
      ['warehouse', 'passwordSecret'],
      'required when authenticator is SNOWFLAKE (the name of the secret holding the password)',
    );
  }
  if (cfg.stage.type !== 's3') {
    issue(
      ['stage', 'type'],
      'must be s3 when the warehouse is snowflake (Snowflake loads from an external S3 stage, not a local directory)',
    );
  } else {
    // COPY names files relative to the stage URL, and extracts write them relative to bucket/prefix: the two must agree.
    const expected = `s3://${cfg.stage.bucket}/${cfg.stage.prefix}/`;
    if (wh.externalStage.url.replace(/\/*$/, '/') !== expected) {
      issue(
        ['warehouse', 'externalStage', 'url'],
        `must be the S3 stage's bucket and prefix, ${expected} (got ${wh.externalStage.url})`,
      );
    }
  }
}

export type PipelineConfig = z.infer<typeof PipelineConfigSchema>;
export type WarehouseConfig = z.infer<typeof WarehouseConfigSchema>;
export type SnowflakeWarehouseConfig = z.infer<typeof SnowflakeWarehouseSchema>;
export type SnowflakeInfraConfig = z.infer<typeof SnowflakeInfraSchema>;
export type StageConfig = z.infer<typeof StageConfigSchema>;
export type SecretsConfig = z.infer<typeof SecretsConfigSchema>;
export type DatasetConfig = z.infer<typeof DatasetSchema>;
export type SourceTableConfig = z.infer<typeof SourceTableSchema>;
export type PostgresSourceConfig = z.infer<typeof PostgresSourceSchema>;
export type CheckConfig = z.infer<typeof CheckSchema>;
export type TableauTargetConfig = z.infer<typeof TableauTargetSchema>;
export type TableauItemConfig = z.infer<typeof tableauItem>;
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
