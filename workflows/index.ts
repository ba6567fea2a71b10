export { pipelineRun } from './pipeline-run';
export { scheduledWindow } from './scheduled-window';
export { dqReport, releaseQuarantine } from './data-quality';
export { backfill } from './backfill';
export { freshnessMonitor } from './freshness-monitor';
export { reconcileRecent } from './reconcile';
