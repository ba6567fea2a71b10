import { z } from 'zod';
import { duration, identifier } from './common';
import type { StageConfig } from './stage';

// Names the Snowflake driver sends at login (role, warehouse, database): Snowflake's own identifier rules.
const snowflakeName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_$]*$/, 'must be a Snowflake identifier (letters, digits, _ and $)');
/** An IAM role ARN, `arn:aws:iam::<12-digit account>:role/<optional path/>name` (IAM's own name rules). */
export const AWS_ROLE_ARN = /^arn:aws:iam::\d{12}:role\/(?:[\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$/;
/** An sts:ExternalId as IAM accepts it: 2 to 1224 letters, digits and `_+=,.@:/-` (so never a quote). */
export const AWS_EXTERNAL_ID = /^[\w+=,.@:/-]{2,1224}$/;
const s3Url = z
  .string()
  .regex(
    /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/[A-Za-z0-9_.=/-]*)?$/,
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
  /** Snowflake through snowflake-sdk (activities/warehouse/engines/snowflake.ts). */
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
    /** Storage integration that lets Snowflake read the bucket: created by `infra snowflake apply` when awsRoleArn is set, else by an account admin. */
    storageIntegration: identifier,
    /** IAM role Snowflake assumes to read the bucket (STORAGE_AWS_ROLE_ARN), e.g. arn:aws:iam::123456789012:role/freshline-snowflake. */
    awsRoleArn: z
      .string()
      .regex(AWS_ROLE_ARN, 'must be an IAM role ARN such as arn:aws:iam::123456789012:role/freshline-snowflake')
      .optional(),
    /** The integration's STORAGE_AWS_EXTERNAL_ID, copied from `DESC INTEGRATION` after the first apply: the trust policy's sts:ExternalId. */
    externalId: z
      .string()
      .regex(AWS_EXTERNAL_ID, 'must be an external ID as DESC INTEGRATION shows it (letters, digits and _+=,.@:/-)')
      .optional(),
  }),
  /** Role dashboards use: granted USAGE on `certified` and `bi` and SELECT on their tables and views after every publish. */
  biRole: identifier,
  /** Session STATEMENT_TIMEOUT_IN_SECONDS: Snowflake cancels statements running longer (default: the account's). */
  statementTimeout: duration.optional(),
  /** Most Snowflake sessions a worker opens (each activity keeps one; opened as concurrent work needs them). */
  sessions: z.number().int().min(1).max(32).default(4),
  /** Roles, grants, masking, Tableau's user, warehouses: what `freshline infra snowflake apply` manages. */
  infra: SnowflakeInfraSchema.optional(),
});

/** Where the warehouse is: DuckDB (default) or Snowflake. */
export const WarehouseConfigSchema = z.discriminatedUnion('type', [DuckDbWarehouseSchema, SnowflakeWarehouseSchema]);

/** Cross-field rules of the warehouse section: credentials per authenticator, and a stage Snowflake can read. */
export function checkWarehouse(cfg: { warehouse: WarehouseConfig; stage: StageConfig }, ctx: z.RefinementCtx): void {
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

export type WarehouseConfig = z.infer<typeof WarehouseConfigSchema>;
export type SnowflakeWarehouseConfig = z.infer<typeof SnowflakeWarehouseSchema>;
export type SnowflakeInfraConfig = z.infer<typeof SnowflakeInfraSchema>;
