import type { PipelineConfig } from '../config/schema';
import type { SecretStore } from './secrets/secret-store';
import type { ObjectStore } from './storage/object-store';
import type { StagedRowsReader } from './warehouse/staged';
import type { Warehouse } from './warehouse/warehouse';

/** Name of the secret holding the PII HMAC key. */
export const PII_KEY_SECRET = 'FRESHLINE_PII_HMAC_KEY';

/** The adapters activities work through; the worker wires real ones, tests wire real or stand-in ones. */
export interface ActivityDeps {
  config: PipelineConfig;
  warehouse: Warehouse;
  /** Scratch in-memory DuckDB that writes Parquet during extraction. */
  converter: Warehouse;
  stage: ObjectStore;
  /** How the warehouse reads a manifest's staged files (DuckDB in place; Snowflake via its external stage). */
  stagedRows: StagedRowsReader;
  secrets: SecretStore;
  /** Local scratch directory for spool files. */
  scratchDir: string;
  /** Embedded default: the read-only DuckDB file Tableau opens, rewritten after every publish (bi views only). */
  biExportPath?: string;
  /** Snowflake: the role BI reads the bi views as and the masking policy PII columns get (from config at worker start). */
  biAccess?: { biRole: string; maskingPolicy: string };
  /**
   * Called before each step's work with the step name and attempt number. Production leaves it unset;
   * recovery tests use it to make a step fail like a crashed dependency would.
   */
  beforeStep?: (step: string, attempt: number) => void | Promise<void>;
}
