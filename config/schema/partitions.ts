import type { z } from 'zod';
import type { SourceTableConfig } from './sources';

/**
 * A reload partitions a child table through its parent: the parent must be in the same dataset, have a
 * business date and a single-column key (the child's `on` column names it), and a table takes its
 * partition from one place only. Refused here, naming the field, rather than as bad SQL in a nightly run.
 */
export function checkReloadPartitions(datasets: { tables: SourceTableConfig[] }[], ctx: z.RefinementCtx): void {
  datasets.forEach((d, i) =>
    d.tables.forEach((t, j) => {
      if (!t.partitionOf) return;
      const path = ['datasets', i, 'tables', j, 'partitionOf'];
      const issue = (message: string, field?: string) =>
        ctx.addIssue({ code: 'custom', path: field ? [...path, field] : path, message });
      if (t.businessDate) return issue('a table has either businessDate or partitionOf, not both');
      if (t.mode !== 'incremental')
        return issue(`only incremental tables are reloaded by partition (mode is ${t.mode})`);
      const parent = d.tables.find((p) => p.name === t.partitionOf!.table);
      if (!parent) return issue(`'${t.partitionOf.table}' is not a table of this dataset`, 'table');
      if (!parent.businessDate) return issue(`'${parent.name}' declares no businessDate to partition by`, 'table');
      if (parent.primaryKey.length !== 1)
        return issue(`'${parent.name}' has a composite primary key; partitionOf needs a single-column key`, 'table');
    }),
  );
}
