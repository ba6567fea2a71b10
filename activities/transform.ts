import { getDataset, modelsToBuild } from '../config/load';
import { currentRun, withHeartbeat, type RunWindow } from './context';
import type { ActivityDeps } from './deps';
import { buildModels, type ModelResult } from './warehouse/transform';

/** Creates the transform activity. */
export function createTransformActivities(deps: ActivityDeps) {
  return {
    /** Builds the dataset's models (staging → intermediate → marts) into its shadow schema. */
    async transform(input: RunWindow): Promise<{ models: ModelResult[] }> {
      return withHeartbeat(deps, 'transform', async () => {
        const ds = getDataset(deps.config, input.dataset);
        const { workflowId } = currentRun();
        return { models: await buildModels(deps.warehouse, { dataset: ds.name, targets: modelsToBuild(ds), runId: workflowId }) };
      });
    },
  };
}
