import { join, resolve } from 'node:path';
import { SecretsManagerStore } from '../activities/secrets/aws-secrets-manager';
import { EnvSecretStore, type SecretStore } from '../activities/secrets/secret-store';
import { LocalObjectStore } from '../activities/storage/local';
import type { ObjectStore } from '../activities/storage/object-store';
import { S3ObjectStore } from '../activities/storage/s3';
import type { Dialect } from '../activities/warehouse/dialect';
import { DuckDbWarehouse } from '../activities/warehouse/engines/duckdb';
import { buildOrder, checkModelsForDialect, MODELS_DIR, readModels } from '../activities/warehouse/models/catalog';
import { SnowflakeWarehouse } from '../activities/warehouse/engines/snowflake';
import { snowflakeStagedRows } from '../activities/warehouse/engines/snowflake-stage';
import { duckdbStagedRows, type StagedRowsReader } from '../activities/warehouse/staged';
import type { Warehouse } from '../activities/warehouse/warehouse';
import { parseDuration } from '../config/duration';
import { modelsToBuild } from '../config/load';
import { isRowCheck } from '../activities/warehouse/quality/checks';
import { identityColumns } from '../activities/warehouse/quality/row-identity';
import type {
  PipelineConfig,
  SecretsConfig,
  SnowflakeWarehouseConfig,
  StageConfig,
  WarehouseConfig,
} from '../config/schema';

/** The secret store the config names: environment then `<dataDir>/secrets.env` (default), or AWS Secrets Manager. */
export function openSecretStore(cfg: SecretsConfig, dataDir: string): SecretStore {
  if (cfg.type === 'aws') {
    return new SecretsManagerStore({
      region: cfg.region,
      prefix: cfg.prefix,
      ttlMs: cfg.ttl === undefined ? undefined : parseDuration(cfg.ttl),
    });
  }
  return new EnvSecretStore(process.env, join(dataDir, 'secrets.env'));
}

/** The stage the config names: `<dataDir>/stage` (default) or S3, with credentials from the AWS SDK chain. */
export function openObjectStore(cfg: StageConfig, dataDir: string): ObjectStore {
  if (cfg.type === 's3') {
    // S3-compatible servers (MinIO, test servers) want path-style addressing; AWS itself does not.
    return new S3ObjectStore({
      bucket: cfg.bucket,
      prefix: cfg.prefix,
      region: cfg.region,
      endpoint: cfg.endpoint,
      forcePathStyle: cfg.endpoint !== undefined,
    });
  }
  return new LocalObjectStore(join(dataDir, 'stage'));
}

/** A connected warehouse and the reader that feeds it staged files. */
export interface OpenedWarehouse {
  warehouse: Warehouse;
  stagedRows: StagedRowsReader;
}

/** Connects the warehouse the config names: a DuckDB file (default `<dataDir>/warehouse.duckdb`) or Snowflake. */
export async function openWarehouse(
  cfg: WarehouseConfig,
  ctx: { dataDir: string; secrets: SecretStore; stage: ObjectStore },
): Promise<OpenedWarehouse> {
  if (cfg.type === 'snowflake') {
    const warehouse = await SnowflakeWarehouse.connect(snowflakeOptions(cfg), ctx.secrets);
    return { warehouse, stagedRows: snowflakeStagedRows(cfg.externalStage) };
  }
  const warehouse = await DuckDbWarehouse.open(
    cfg.path === undefined ? join(ctx.dataDir, 'warehouse.duckdb') : resolve(ctx.dataDir, cfg.path),
  );
  return { warehouse, stagedRows: duckdbStagedRows(ctx.stage) };
}

/** Connection options from config; every statement's QUERY_TAG starts as `{"app":"freshline"}` (runs add dataset and run ids). */
export function snowflakeOptions(cfg: SnowflakeWarehouseConfig): Parameters<typeof SnowflakeWarehouse.connect>[0] {
  return {
    account: cfg.account,
    username: cfg.user,
    role: cfg.role,
    warehouse: cfg.warehouse,
    database: cfg.database,
    authenticator: cfg.authenticator,
    privateKeySecret: cfg.privateKeySecret,
    privateKeyPassphraseSecret: cfg.privateKeyPassphraseSecret,
    passwordSecret: cfg.passwordSecret,
    accessUrl: cfg.accessUrl,
    queryTag: { app: 'freshline' },
    sessions: cfg.sessions,
    statementTimeoutSeconds:
      cfg.statementTimeout === undefined ? undefined : Math.round(parseDuration(cfg.statementTimeout) / 1000),
  };
}

/**
 * Fails when a dataset builds a model the dialect cannot run, naming each model and construct, or checks
 * rows of a model that declares no key: at worker start, rather than when a run reaches the model hours later.
 */
export function checkDatasetModels(config: PipelineConfig, dialect: Dialect, modelsDir = MODELS_DIR): void {
  const models = readModels(modelsDir);
  const problems: string[] = [];
  for (const ds of config.datasets) {
    try {
      checkModelsForDialect(buildOrder(models, modelsToBuild(ds)), dialect);
    } catch (err) {
      problems.push(`dataset ${ds.name}: ${(err as Error).message}`);
    }
    for (const check of ds.checks.filter(isRowCheck))
      try {
        identityColumns(models.get(check.model), check.model);
      } catch (err) {
        problems.push(`dataset ${ds.name}, check ${check.name}: ${(err as Error).message}`);
      }
  }
  if (problems.length) throw new Error(problems.join('\n'));
}
