import { currentRun, runWarehouse, withHeartbeat, type RunWindow } from './context';
import type { ActivityDeps } from './deps';
import type { Manifest } from './sources/postgres/manifest';
import { loadManifest, type LoadResult } from './warehouse/load';

/** Creates the load activity. */
export function createLoadActivities(deps: ActivityDeps) {
  return {
    /**
     * Loads one manifest into raw, replacing the versions it brings again (idempotent). The load id is the
     * window's workflow id, the table and the extraction time: a retried load (same manifest) rewrites the
     * same rows, a re-run of the window is a new extraction; audit.pipeline_runs maps it to each Temporal run.
     */
    async load(input: RunWindow & { manifest: Manifest }): Promise<LoadResult> {
      return withHeartbeat(deps, 'load', () => {
        const { workflowId } = currentRun();
        // One id per extraction, not per window: a window re-run hours later, or a longer manual window under
        // a scheduled window's id, is a new read of the source, and the reconciliation counts only its rows.
        const m = input.manifest;
        const loadId = `${workflowId}/${m.table}@${m.extractedAt}`;
        return loadManifest(runWarehouse(deps, input, 'load'), deps.stagedRows, m, loadId);
      });
    },
  };
}
