import { join, resolve } from 'node:path';
import type { ActivityDeps } from '../activities/deps';
import { EnvSecretStore, type SecretStore } from '../activities/secrets/secret-store';
import { LocalObjectStore } from '../activities/storage/local';
import { ensureAuditTables } from '../activities/warehouse/audit';
import { DuckDbWarehouse } from '../activities/warehouse/duckdb';
import { openParquetConverter } from '../activities/sources/postgres/parquet-encoder';
import type { PipelineConfig } from '../config/schema';

/** Embedded-default adapters: DuckDB file warehouse, local-directory stage, env/file secrets. */
export interface EmbeddedDeps extends ActivityDeps {
  warehouse: DuckDbWarehouse;
  /** Closes the DuckDB handles. */
  close(): Promise<void>;
}

/** Opens the embedded-default adapters under `dataDir` (warehouse.duckdb, stage/, tmp/). */
export async function openEmbeddedDeps(opts: {
  dataDir: string;
  config: PipelineConfig;
  secrets?: SecretStore;
  beforeStep?: ActivityDeps['beforeStep'];
}): Promise<EmbeddedDeps> {
  const dataDir = resolve(opts.dataDir);
  const warehouse = await DuckDbWarehouse.open(join(dataDir, 'warehouse.duckdb'));
  // Parquet writing gets its own small in-memory engine so staging never queues behind warehouse work.
  // One thread: a streamed CSV scan gains nothing from a second, whose busy-waiting cost ~3x the CPU (bench/).
  const converter = await openParquetConverter();
  await ensureAuditTables(warehouse);
  return {
    config: opts.config,
    warehouse,
    converter,
    stage: new LocalObjectStore(join(dataDir, 'stage')),
    secrets: opts.secrets ?? new EnvSecretStore(process.env, join(dataDir, 'secrets.env')),
    scratchDir: join(dataDir, 'tmp'),
    beforeStep: opts.beforeStep,
    async close() {
      await converter.close();
      await warehouse.close();
    },
  };
}
