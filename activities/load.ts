import { currentRun, runWarehouse, withHeartbeat, type RunWindow } from './context';
import type { ActivityDeps } from './deps';
import type { Manifest } from './sources/postgres/manifest';
import { loadManifest, type LoadResult } from './warehouse/load';

/** Creates the load activity. */
export function createLoadActivities(deps: ActivityDeps) {
  return {
    /**
     * Loads one manifest into raw, replacing the versions it brings again (idempotent). The load id is the
     * window's workflow id plus the table, so a re-run writes the same lineage; audit.pipeline_runs maps it
     * to each Temporal run.
     */
    async load(input: RunWindow & { manifest: Manifest }): Promise<LoadResult> {
      return withHeartbeat(deps, 'load', () => {
        const { workflowId } = currentRun();
        // A CDC capture is new changes each time, even within one window: its load id names the capture.
        // Other loads keep `<workflow id>/<table>`, so a retried window writes the same lineage into marts;
        // one extraction is told from another under that id by its `_extracted_at` (reconciliation, ledger).
        const m = input.manifest;
        const loadId = m.mode === 'cdc' ? `${workflowId}/${m.table}@${m.extractedAt}` : `${workflowId}/${m.table}`;
        return loadManifest(runWarehouse(deps, input, 'load'), deps.stagedRows, m, loadId);
      });
    },
  };
}
