/** What quality checks share: their context, results and the counts the workflow passes in. */
import type { CheckConfig, DatasetConfig, Severity } from '../../../config/schema';
import { qualified } from '../sql';
import type { Warehouse } from '../warehouse';
import type { Model } from '../models/catalog';

/** Per-table counts the row-count reconciliation compares: source snapshot = staged (+ rejected) = loaded. */
export interface TableCounts {
  table: string;
  sourceRows: number;
  stagedRows: number;
  loadedRows: number;
  /** Source rows not staged, each recorded in audit.source_rejects (absent: none). */
  rejectedRows?: number;
  /** The load kept raw as it was on purpose (a full snapshot with rejected rows): nothing to find in raw. */
  held?: boolean;
  /** The load that wrote them (raw `_load_id`); the reconciliation recounts raw under it. */
  loadId?: string;
  /** When that load's extraction ran: raw rows of one extraction carry it as `_extracted_at`. */
  extractedAt?: string;
}

/** Outcome of one check, as stored in audit.dq_results. */
export interface CheckResult {
  check: string;
  type: CheckConfig['type'] | 'schema_drift';
  model: string | null;
  /** The severity that applied: a configured `error` escalated by its threshold reads `critical`. */
  severity: Severity;
  status: 'pass' | 'fail';
  failingRows: number;
  quarantinedRows: number;
  sampleKeys: string[];
  detail: string;
}

/** What every check may read. */
export interface CheckContext {
  wh: Warehouse;
  shadow: string;
  /** The window's workflow id: quarantined rows and load ids carry it. */
  runId: string;
  dataset: DatasetConfig;
  counts: TableCounts[];
  window: { start: string; end: string };
  /** The check time (freshness), injectable for tests. */
  now: Date;
  /** Per model, the checks with released quarantine rows (read once per gate; see quarantine.ts). */
  released: Map<string, Promise<Set<string>>>;
  /** The model catalog: row checks name rows by each model's key. */
  models: Map<string, Model>;
  /** Where SQL written in config runs (custom_sql, metric_match): the warehouse's sandbox if it has one. */
  userSql: () => Promise<Pick<Warehouse, 'query'>>;
}

/** Sample keys kept per failing check. */
export const SAMPLE = 5;

/** `{{ ref('m') }}` in check SQL points at the shadow tables the gate inspects. */
export function renderRefs(ctx: Pick<CheckContext, 'shadow'>, sql: string): string {
  return sql
    .replace(/\{\{\s*ref\(\s*'([a-z_][a-z0-9_]*)'\s*\)\s*\}\}/g, (_m, name: string) => qualified(ctx.shadow, name))
    .replace(/;\s*$/, '');
}
