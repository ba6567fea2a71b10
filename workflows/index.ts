export { pipelineRun } from './pipeline-run';
export { scheduledWindow } from './scheduled-window';
