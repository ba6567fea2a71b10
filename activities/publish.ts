import { getDataset } from '../config/load';
import { runWarehouse, withHeartbeat, type RunWindow } from './context';
import type { ActivityDeps } from './deps';
import { exportBiDatabase } from './warehouse/bi-export';
import { DuckDbWarehouse } from './warehouse/engines/duckdb';
import { readModels, upstreamSources } from './warehouse/models/catalog';
import { publishedPiiColumns } from './warehouse/models/lineage';
import { publishTables, type PublishResult } from './warehouse/publish';

/** Creates the publish activity. */
export function createPublishActivities(deps: ActivityDeps) {
  return {
    /**
     * Atomically replaces the certified tables with the gated shadow tables, holding back every mart
     * that reads a source table whose breaking schema drift was not accepted.
     */
    async publish(input: RunWindow & { blockedTables?: { table: string; reason: string }[] }): Promise<PublishResult> {
      return withHeartbeat(deps, 'publish', async () => {
        const ds = getDataset(deps.config, input.dataset);
        const models = readModels();
        const hold = ds.publish.flatMap((mart) => {
          const reasons = (input.blockedTables ?? []).filter((b) =>
            upstreamSources(models, mart).some((s) => s.source === ds.source && s.table === b.table),
          );
          return reasons.length
            ? [{ table: mart, reason: reasons.map((r) => `${r.table}: ${r.reason}`).join('; ') }]
            : [];
        });
        // PII follows columns through the models: what is computed from it never reaches BI, whatever its name.
        const piiColumns = await publishedPiiColumns(deps.config);
        const published = await publishTables(
          runWarehouse(deps, input, 'publish'),
          input.dataset,
          ds.publish,
          hold,
          deps.biAccess ? { ...deps.biAccess, piiColumns } : { piiColumns },
        );
        // Embedded default: Tableau reads a separate read-only file with the bi views only (least privilege).
        if (deps.biExportPath && deps.warehouse instanceof DuckDbWarehouse) {
          await exportBiDatabase(deps.warehouse, deps.biExportPath, {
            excludeColumns: piiColumns,
          });
        }
        return published;
      });
    },
  };
}
