import { getDataset, modelsToBuild } from '../config/load';
import { currentRun, runWarehouse, withHeartbeat, type RunWindow } from './context';
import type { ActivityDeps } from './deps';
import { dialectOf } from './warehouse/dialect';
import { buildModels, type ModelResult } from './warehouse/models/build';

/** Creates the transform activity. */
export function createTransformActivities(deps: ActivityDeps) {
  return {
    /**
     * Builds the dataset's models (staging → intermediate → marts) into its shadow schema; staging merges
     * the keys new loads touched unless `fullRefresh` rebuilds it whole.
     */
    async transform(input: RunWindow & { fullRefresh?: boolean }): Promise<{ models: ModelResult[] }> {
      return withHeartbeat(deps, 'transform', async () => {
        const ds = getDataset(deps.config, input.dataset);
        const { workflowId } = currentRun();
        const wh = runWarehouse(deps, input, 'transform');
        return {
          models: await buildModels(wh, {
            dataset: ds.name,
            targets: modelsToBuild(ds),
            runId: workflowId,
            dialect: dialectOf(wh.dialect),
            fullRefresh: input.fullRefresh ?? false,
            quarantinable: ds.checks.flatMap((c) =>
              c.severity === 'error' && 'model' in c && c.model ? [c.model] : [],
            ),
          }),
        };
      });
    },
  };
}
