export { pipelineRun } from './pipeline-run';
export { scheduledWindow } from './scheduled-window';
export { dqReport, releaseQuarantine } from './data-quality';
