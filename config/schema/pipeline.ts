import { z } from 'zod';
import { duration, identifier } from './common';
import { DatasetSchema } from './datasets';
import { checkOneDeclarationPerTable } from './declarations';
import { checkReloadPartitions } from './partitions';
import { DEFAULT_RECONCILIATION_CRON, MonitorsSchema, ReconciliationSchema } from './schedules';
import { SecretsConfigSchema } from './secrets';
import { PostgresSourceSchema } from './sources';
import { StageConfigSchema } from './stage';
import { checkCdcSlots } from './cdc-slots';
import { checkWarehouse, WarehouseConfigSchema } from './warehouse';

/** The whole pipeline definition (config/pipeline.yaml). */
export const PipelineConfigSchema = z
  .object({
    sources: z.record(identifier, PostgresSourceSchema),
    datasets: z.array(DatasetSchema).min(1),
    /** The warehouse raw, shadow, certified and bi live in (default: embedded DuckDB). */
    warehouse: WarehouseConfigSchema.default({ type: 'duckdb' }),
    /** Where extracts stage Parquet (default: a local directory). */
    stage: StageConfigSchema.default({ type: 'local' }),
    /** Where credentials come from (default: environment and secrets file). */
    secrets: SecretsConfigSchema.default({ type: 'env' }),
    /** How long audit rows (runs, check results, quarantined rows) are kept. */
    audit: z.object({ retention: duration.default('90d') }).default({ retention: '90d' }),
    /** Monitors with their own schedules (default: freshness every 5m). */
    monitors: MonitorsSchema.default({ freshness: { every: '5m' } }),
    /** The per-dataset reconciliation schedule (default: nightly at 02:00 UTC, last 7 days). */
    reconciliation: ReconciliationSchema.default({ cron: DEFAULT_RECONCILIATION_CRON, days: 7 }),
  })
  .superRefine((cfg, ctx) => {
    checkWarehouse(cfg, ctx);
    checkOneDeclarationPerTable(cfg.datasets, ctx);
    checkReloadPartitions(cfg.datasets, ctx);
    checkCdcSlots(cfg, ctx);
    const names = new Set<string>();
    cfg.datasets.forEach((d, i) => {
      if (names.has(d.name))
        ctx.addIssue({ code: 'custom', path: ['datasets', i, 'name'], message: `duplicate dataset '${d.name}'` });
      names.add(d.name);
      if (!cfg.sources[d.source]) {
        ctx.addIssue({
          code: 'custom',
          path: ['datasets', i, 'source'],
          message: `unknown source '${d.source}' (defined: ${Object.keys(cfg.sources).join(', ') || 'none'})`,
        });
      }
      d.dependsOn.forEach((dep, j) => {
        if (dep.dataset === d.name)
          ctx.addIssue({
            code: 'custom',
            path: ['datasets', i, 'dependsOn', j, 'dataset'],
            message: 'a dataset cannot depend on itself',
          });
        else if (!cfg.datasets.some((o) => o.name === dep.dataset)) {
          ctx.addIssue({
            code: 'custom',
            path: ['datasets', i, 'dependsOn', j, 'dataset'],
            message: `unknown dataset '${dep.dataset}' (defined: ${cfg.datasets.map((o) => o.name).join(', ')})`,
          });
        }
      });
      const checkNames = new Set<string>();
      d.checks.forEach((c, j) => {
        if (checkNames.has(c.name))
          ctx.addIssue({
            code: 'custom',
            path: ['datasets', i, 'checks', j, 'name'],
            message: `duplicate check '${c.name}'`,
          });
        checkNames.add(c.name);
      });
    });
  });

export type PipelineConfig = z.infer<typeof PipelineConfigSchema>;
