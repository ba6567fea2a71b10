import { getDataset } from '../config/load';
import { withHeartbeat, type RunWindow } from './context';
import type { ActivityDeps } from './deps';

/** Result of the BI refresh step. */
export interface RefreshResult {
  status: 'skipped' | 'refreshed';
  reason: string;
}

/** Creates the BI refresh activity. */
export function createRefreshActivities(deps: ActivityDeps) {
  return {
    /** Refreshes the dataset's Tableau extracts; with no target configured, records why it skipped. */
    async refresh(input: RunWindow): Promise<RefreshResult> {
      return withHeartbeat(deps, 'refresh', async () => {
        const tableau = getDataset(deps.config, input.dataset).bi.tableau;
        if (!tableau || tableau.datasources.length + tableau.workbooks.length === 0) {
          return { status: 'skipped', reason: `no Tableau target configured for dataset '${input.dataset}' (config bi.tableau)` };
        }
        // Said plainly rather than pretending: the Tableau REST client is not built yet.
        throw new Error(`Tableau refresh is configured for '${input.dataset}' but not implemented in this build`);
      });
    },
  };
}
