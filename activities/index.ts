import { createAlertActivities } from './alert';
import { createAuditActivities } from './audit';
import { createCdcActivities } from './cdc';
import { createCompactActivities } from './compact';
import type { ActivityDeps } from './deps';
import { createDqActivities } from './dq';
import { createExtractActivities } from './extract';
import { createFreshnessActivities } from './freshness';
import { createLoadActivities } from './load';
import { createPlanActivities } from './plan';
import { createPublishActivities } from './publish';
import { createQualityActivities } from './quality';
import { createRefreshActivities } from './refresh';
import { createTransformActivities } from './transform';

export type { ActivityDeps } from './deps';

/** All activities, bound to the given adapters. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createPlanActivities(deps),
    ...createExtractActivities(deps),
    ...createCdcActivities(deps),
    ...createLoadActivities(deps),
    ...createTransformActivities(deps),
    ...createQualityActivities(deps),
    ...createPublishActivities(deps),
    ...createRefreshActivities(deps),
    ...createAuditActivities(deps),
    ...createAlertActivities(deps),
    ...createDqActivities(deps),
    ...createFreshnessActivities(deps),
    ...createCompactActivities(deps),
  };
}

/** The activity interface workflows proxy. */
export type Activities = ReturnType<typeof createActivities>;
