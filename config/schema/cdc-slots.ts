import type { z } from 'zod';
import type { DatasetConfig } from './datasets';

/**
 * Refuses `mode: cdc` tables of one source in more than one dataset. A source has one slot and one
 * publication (`sources.<name>.cdc`, default freshline_<source>): each dataset's capture would drop the
 * other's tables from the publication and confirm the slot past their changes, losing them silently. One
 * slot per (source, dataset) was rejected because every slot retains WAL on the primary.
 */
export function checkCdcSlots(cfg: { datasets: DatasetConfig[] }, ctx: z.RefinementCtx): void {
  const firstBySource = new Map<string, { name: string; index: number }>();
  cfg.datasets.forEach((d, i) => {
    const table = d.tables.findIndex((t) => t.mode === 'cdc');
    if (table < 0) return;
    const first = firstBySource.get(d.source);
    if (!first) {
      firstBySource.set(d.source, { name: d.name, index: i });
      return;
    }
    ctx.addIssue({
      code: 'custom',
      path: ['datasets', i, 'tables', table, 'mode'],
      message:
        `datasets '${first.name}' (datasets[${first.index}]) and '${d.name}' both have mode: cdc tables on ` +
        `source '${d.source}', which has one replication slot and publication: each capture would drop the ` +
        `other's tables and lose their changes. Put all of '${d.source}''s cdc tables in one dataset ` +
        `(or use mode: incremental here)`,
    });
  });
}
