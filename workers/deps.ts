import { join, resolve } from 'node:path';
import type { ActivityDeps } from '../activities/deps';
import { EnvSecretStore, type SecretStore } from '../activities/secrets/secret-store';
import { BI_EXPORT_FILE } from '../activities/warehouse/bi-export';
import { openParquetConverter } from '../activities/sources/postgres/parquet-encoder';
import { LocalObjectStore } from '../activities/storage/local';
import type { ObjectStore } from '../activities/storage/object-store';
import { ensureAuditTables } from '../activities/warehouse/audit/runs';
import { dialectOf } from '../activities/warehouse/dialect';
import { DuckDbWarehouse } from '../activities/warehouse/engines/duckdb';
import { duckdbStagedRows, type StagedRowsReader } from '../activities/warehouse/staged';
import type { Warehouse } from '../activities/warehouse/warehouse';
import type { PipelineConfig } from '../config/schema';
import { publishedPiiColumns } from '../activities/warehouse/models/lineage';
import { checkDatasetModels, openObjectStore, openSecretStore, openWarehouse } from './adapters';
import { piiMaskingPolicy } from '../infra/snowflake/render';

/** A worker's adapters, with a close for the handles they hold. */
export interface WorkerDeps extends ActivityDeps {
  /** Closes the converter and the warehouse connection. */
  close(): Promise<void>;
}

/** Embedded-default adapters: DuckDB file warehouse, local-directory stage, env/file secrets. */
export interface EmbeddedDeps extends WorkerDeps {
  warehouse: DuckDbWarehouse;
}

/**
 * Opens the adapters the config names (config `warehouse`, `stage`, `secrets`; each defaults to the
 * embedded one) under `dataDir` (tmp/, and the embedded warehouse file, stage and secrets file).
 */
export async function openDeps(opts: {
  dataDir: string;
  config: PipelineConfig;
  /** Overrides the configured secret store (tests, the demo). */
  secrets?: SecretStore;
  beforeStep?: ActivityDeps['beforeStep'];
  /** Models to check against the warehouse's dialect (default models/). */
  modelsDir?: string;
}): Promise<WorkerDeps> {
  const dataDir = resolve(opts.dataDir);
  // Checked before connecting: a model the warehouse cannot run stops the worker now, naming it, without a login.
  checkDatasetModels(opts.config, dialectOf(opts.config.warehouse.type), opts.modelsDir);
  // And PII lineage: a model it cannot follow would otherwise fail every publish, hours later.
  await publishedPiiColumns(opts.config, opts.modelsDir);
  const secrets = opts.secrets ?? openSecretStore(opts.config.secrets, dataDir);
  const stage = openObjectStore(opts.config.stage, dataDir);
  const { warehouse, stagedRows } = await openWarehouse(opts.config.warehouse, { dataDir, secrets, stage });
  return assemble({ ...opts, dataDir, secrets, stage, warehouse, stagedRows });
}

/** Opens the embedded-default adapters under `dataDir` (warehouse.duckdb, stage/, tmp/), whatever the config's sections say. */
export async function openEmbeddedDeps(opts: {
  dataDir: string;
  config: PipelineConfig;
  secrets?: SecretStore;
  beforeStep?: ActivityDeps['beforeStep'];
}): Promise<EmbeddedDeps> {
  const dataDir = resolve(opts.dataDir);
  const warehouse = await DuckDbWarehouse.open(join(dataDir, 'warehouse.duckdb'));
  const stage = new LocalObjectStore(join(dataDir, 'stage'));
  const secrets = opts.secrets ?? new EnvSecretStore(process.env, join(dataDir, 'secrets.env'));
  const deps = await assemble({ ...opts, dataDir, secrets, stage, warehouse, stagedRows: duckdbStagedRows(stage) });
  return { ...deps, warehouse };
}

/** The parts every worker has whatever the warehouse: the Parquet converter and the audit tables. */
async function assemble(parts: {
  dataDir: string;
  config: PipelineConfig;
  secrets: SecretStore;
  stage: ObjectStore;
  warehouse: Warehouse;
  stagedRows: StagedRowsReader;
  beforeStep?: ActivityDeps['beforeStep'];
}): Promise<WorkerDeps> {
  const { warehouse } = parts;
  const wh = parts.config.warehouse;
  try {
    // Parquet writing gets its own small in-memory engine so staging never queues behind warehouse work.
    const converter = await openParquetConverter();
    await ensureAuditTables(warehouse).catch(async (err: unknown) => {
      await converter.close();
      throw err;
    });
    return {
      config: parts.config,
      warehouse,
      converter,
      stage: parts.stage,
      stagedRows: parts.stagedRows,
      secrets: parts.secrets,
      scratchDir: join(parts.dataDir, 'tmp'),
      ...(warehouse instanceof DuckDbWarehouse ? { biExportPath: join(parts.dataDir, BI_EXPORT_FILE) } : {}),
      ...(wh.type === 'snowflake'
        ? { biAccess: { biRole: wh.biRole, maskingPolicy: piiMaskingPolicy(wh.database) } }
        : {}),
      beforeStep: parts.beforeStep,
      async close() {
        await converter.close();
        await warehouse.close();
      },
    };
  } catch (err) {
    await warehouse.close().catch(() => undefined);
    throw err;
  }
}
