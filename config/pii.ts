import type { PipelineConfig } from './schema';

/**
 * The configured PII columns of a source table (`datasets[].tables[].pii`). Every declaration of a
 * table agrees on them (config validation), so the first one found is the table's.
 */
export function piiColumnsOf(config: Pick<PipelineConfig, 'datasets'>): (source: string, table: string) => string[] {
  return (source, table) =>
    config.datasets.filter((d) => d.source === source).flatMap((d) => d.tables.filter((t) => t.name === table))[0]
      ?.pii ?? [];
}
