import { getDataset } from '../config/load';
import { withHeartbeat, type RunWindow } from './context';
import type { ActivityDeps } from './deps';
import { publishTables, type PublishResult } from './warehouse/publish';

/** Creates the publish activity. */
export function createPublishActivities(deps: ActivityDeps) {
  return {
    /** Atomically replaces the certified tables with the gated shadow tables. */
    async publish(input: RunWindow): Promise<PublishResult> {
      return withHeartbeat(deps, 'publish', () => publishTables(deps.warehouse, input.dataset, getDataset(deps.config, input.dataset).publish));
    },
  };
}
