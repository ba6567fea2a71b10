/** Warehouse schema names, in one place. */
export const SCHEMAS = {
  raw: 'raw',
  certified: 'certified',
  /** Stable views over certified tables: what dashboards read. */
  bi: 'bi',
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
