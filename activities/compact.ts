import { withHeartbeat } from './context';
import type { ActivityDeps } from './deps';
import { readModels } from './warehouse/models/catalog';
import { compactRaw, type CompactedTable } from './warehouse/raw-compaction';

/** Creates the raw-compaction activity. */
export function createCompactActivities(deps: ActivityDeps) {
  return {
    /**
     * Bounded raw: deletes the versions extracted before `olderThan` that no model reads any more
     * (warehouse/raw-compaction.ts); returns what it removed per raw table.
     */
    async compactRaw(input: { olderThan: string }): Promise<{ tables: CompactedTable[] }> {
      return withHeartbeat(deps, 'compact', async () => ({
        tables: await compactRaw(deps.warehouse, readModels(), new Date(input.olderThan)),
      }));
    },
  };
}
