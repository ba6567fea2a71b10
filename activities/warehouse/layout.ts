/** Warehouse schema names, in one place. */
export const SCHEMAS = {
  raw: 'raw',
  certified: 'certified',
  audit: 'audit',
  quarantine: 'quarantine',
} as const;

/** Shadow schema a dataset's transforms write to before the gate (write-audit-publish). */
export function shadowSchema(dataset: string): string {
  return `shadow_${dataset}`;
}

/** Raw table name for a source table: `<source>__<table>`. */
export function rawTable(source: string, table: string): string {
  return `${source}__${table}`;
}

/** Lineage columns every raw row carries. */
export const LINEAGE_COLUMNS = ['_load_id', '_window_start', '_window_end', '_extracted_at', '_source_file'] as const;
