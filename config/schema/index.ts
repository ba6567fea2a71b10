// The pipeline definition's schema, one module per section; importers take it from here.
export * from './bi';
export * from './checks';
export * from './datasets';
export * from './pipeline';
export * from './schedules';
export * from './secrets';
export * from './sources';
export * from './stage';
export * from './warehouse';
export { formatIssues } from '../format-issues';
export type { Severity } from './common';
