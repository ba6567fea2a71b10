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

/**
 * A source row left out of the stage because a value cannot be represented in the warehouse. Located by
 * line of its COPY stream and primary key; its values stay in the source (they may be PII).
 */
export interface SourceReject {
  line: number;
  column: string;
  /** Primary-key values as PostgreSQL's text output wrote them. */
  key: Record<string, string | null>;
  reason: string;
}

/**
 * Columns every CDC file carries after the table's own: the change's operation (I/U/D/T), its tombstone
 * flag, position (sortable LSN text), commit time and the TOASTed columns it did not send.
 */
export const CDC_FILE_COLUMNS: readonly { name: string; type: string }[] = [
  { name: '_op', type: 'VARCHAR' },
  { name: '_deleted', type: 'BOOLEAN' },
  { name: '_lsn', type: 'VARCHAR' },
  { name: '_commit_ts', type: 'TIMESTAMPTZ' },
  { name: '_unchanged_toast', type: 'VARCHAR' },
];

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
  /** Rows not staged (see SourceReject); at most MAX_LISTED_REJECTS listed. Absent: none. */
  rejects?: SourceReject[];
  /** Every rejected row, listed or not (sourceRows = rows + rejectedRows). */
  rejectedRows?: number;
  /**
   * Reload of a business-date partition: keys raw held live in it that the source no longer has (hard
   * deletes), staged as Parquet of the primary-key columns; load writes them as tombstones. Absent: none.
   */
  deletedKeys?: { keys: string[]; rows: number };
}
