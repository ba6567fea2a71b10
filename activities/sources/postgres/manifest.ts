import type { SchemaDrift } from './drift';

/** A change window [start, end) as ISO-8601 UTC strings (what goes through Temporal). */
export interface Window {
  start: string;
  end: string;
}

/** One column as staged: source name and warehouse type. */
export interface StagedColumn {
  name: string;
  sourceType: string;
  type: string;
}

/** What extract returns for one table and window: where the data is, never the data itself. */
export interface Manifest {
  /** incremental (window), full (whole table), cdc (slot changes) — decides how load replaces raw rows. */
  mode: 'incremental' | 'full' | 'cdc';
  source: string;
  schema: string;
  table: string;
  window: Window;
  /** Lower bound actually read: window start minus the lookback overlap. */
  readFrom: string;
  /** Object keys of the staged Parquet files. */
  keys: string[];
  /** Rows written to the stage. */
  rows: number;
  /** Rows matching the window in the source, counted inside the same snapshot as the copy. */
  sourceRows: number;
  bytes: number;
  /** sha256 over column names and types: changes when the source schema drifts. */
  schemaHash: string;
  columns: StagedColumn[];
  primaryKey: string[];
  cursor: string;
  /** Newest cursor value staged (the freshness watermark candidate), or null when the window was empty. */
  maxCursor: string | null;
  extractedAt: string;
  /** Column changes since the last load, or null. */
  drift: SchemaDrift | null;
  /** Breaking drift not accepted: nothing was read or staged, and publish of dependent marts is held. */
  blocked: boolean;
  /** Full mode: the table's checksum equals the last load's, so nothing was staged. */
  unchanged: boolean;
  /** Full mode: checksum of the whole table inside the snapshot. */
  checksum: string | null;
}
