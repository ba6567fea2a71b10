import type { CheckConfig, DatasetConfig } from '../../../config/schema';
import { aggregateCheck, type AggregateCheck } from './aggregate';
import { renderRefs, SAMPLE, type CheckContext, type CheckResult, type TableCounts } from './context';
import { shadowSchema } from '../layout';
import { releasedHashes, quarantineRows } from './quarantine';
import { Binds, qualified, quoteIdent } from '../sql';
import type { SandboxReader, Warehouse } from '../warehouse';
import { readModels, type Model } from '../models/catalog';
import { identityColumns, joinFailing } from './row-identity';

export type { CheckResult, TableCounts } from './context';

/** Runs every check against the dataset's shadow tables; `error` row checks quarantine their failing rows. */
export async function runChecks(
  wh: Warehouse,
  opts: {
    dataset: DatasetConfig;
    runId: string;
    counts: TableCounts[];
    window: { start: string; end: string };
    now?: Date;
    /** Rebuilds the models built from these (quarantine removed rows from them). */
    rebuildDownstream?: (models: string[]) => Promise<void>;
    /** The model catalog (row checks read each model's key); the shipped models when omitted. */
    models?: Map<string, Model>;
  },
): Promise<CheckResult[]> {
  // Opened on the first check that needs it, closed when the gate's checks are done.
  let sandbox: Promise<SandboxReader> | undefined;
  const closeSandbox = async () => {
    if (sandbox) (await sandbox.catch(() => undefined))?.close();
    sandbox = undefined;
  };
  const ctx: CheckContext = {
    wh,
    shadow: shadowSchema(opts.dataset.name),
    runId: opts.runId,
    dataset: opts.dataset,
    counts: opts.counts,
    window: opts.window,
    now: opts.now ?? new Date(),
    released: new Map(),
    models: opts.models ?? readModels(),
    userSql: () => (sandbox ??= wh.sandbox ? wh.sandbox() : Promise.resolve({ query: wh.query.bind(wh), close() {} })),
  };
  const results: CheckResult[] = [];
  const run = async (check: CheckConfig, fn: () => Promise<CheckResult>) => {
    try {
      results.push(await fn());
    } catch (err) {
      // A check that cannot run is a failed check, not a crashed gate: the operator sees why.
      results.push({
        check: check.name,
        type: check.type,
        model: 'model' in check ? (check.model ?? null) : null,
        severity: check.severity,
        status: 'fail',
        failingRows: 0,
        quarantinedRows: 0,
        sampleKeys: [],
        detail: `check could not run: ${(err as Error).message}`,
      });
    }
  };
  // Row checks first: their quarantine changes the models, and what is built from them is rebuilt
  // before the aggregate checks look, so certified aggregates never count a quarantined row.
  for (const check of opts.dataset.checks) if (isRowCheck(check)) await run(check, () => rowCheck(ctx, check));
  const quarantined = [...new Set(results.filter((r) => r.quarantinedRows > 0 && r.model).map((r) => r.model!))];
  if (quarantined.length && opts.rebuildDownstream) await opts.rebuildDownstream(quarantined);
  // The sandbox reads the file as checkpointed when it opened: the aggregate checks need a fresh one that
  // sees the quarantine and the rebuilt models.
  await closeSandbox();
  for (const check of opts.dataset.checks)
    if (!isRowCheck(check)) await run(check, () => aggregateCheck(ctx, check as AggregateCheck));
  await closeSandbox();
  return results;
}

type RowLevelCheck =
  | Extract<CheckConfig, { type: 'not_null' | 'unique' | 'relationships' | 'accepted_values' | 'range' }>
  | (Extract<CheckConfig, { type: 'custom_sql' }> & { model: string; key: string });

/** Checks judged row by row (their failing rows can be quarantined), as opposed to aggregate checks. */
export function isRowCheck(check: CheckConfig): check is RowLevelCheck {
  if (check.type === 'custom_sql') return check.model !== undefined && check.key !== undefined;
  return ['not_null', 'unique', 'relationships', 'accepted_values', 'range'].includes(check.type);
}

/**
 * The identities (see row-identity.ts) of the model's rows failing the check, one per failing row; every
 * row-level check is expressed this way. Values from config (accepted values, range bounds) are binds
 * added to `binds`, never SQL text.
 */
function failingIdentities(
  ctx: CheckContext,
  check: RowLevelCheck,
  binds: Binds,
  /** The identity columns of the checked model. */
  identity: string[],
  /** custom_sql: the keys its SQL returned (run in the sandbox, never on the write connection). */
  userKeys: string[] = [],
): { sql: string; reason: string } {
  const t = qualified(ctx.shadow, check.model);
  const ids = identity.map(quoteIdent).join(', ');
  const where = (cond: string) => `SELECT ${ids} FROM ${t} WHERE ${cond}`;
  switch (check.type) {
    case 'not_null':
      return {
        sql: where(check.columns.map((c) => `${quoteIdent(c)} IS NULL`).join(' OR ')),
        reason: `null in ${check.columns.join(' or ')}`,
      };
    case 'unique':
      return {
        sql: `SELECT ${ids} FROM (SELECT ${ids}, count(*) OVER (PARTITION BY ${check.columns.map(quoteIdent).join(', ')}) AS _n FROM ${t}) AS d WHERE _n > 1`,
        reason: `duplicate ${check.columns.join(', ')}`,
      };
    case 'accepted_values':
      return {
        sql: where(
          `${quoteIdent(check.column)} IS NOT NULL AND ${quoteIdent(check.column)}::VARCHAR NOT IN (${check.values.map((v) => binds.add(v)).join(', ')})`,
        ),
        reason: `${check.column} not in (${check.values.join(', ')})`,
      };
    case 'range': {
      const c = quoteIdent(check.column);
      const out = [
        ...(check.min !== undefined ? [`${c} < ${binds.add(check.min)}`] : []),
        ...(check.max !== undefined ? [`${c} > ${binds.add(check.max)}`] : []),
      ];
      return {
        sql: where(out.length ? out.join(' OR ') : 'false'),
        reason: `${check.column} outside [${check.min ?? '-∞'}, ${check.max ?? '∞'}]`,
      };
    }
    case 'relationships': {
      const parent = qualified(ctx.shadow, check.to.model);
      const asOf = check.asOf
        ? ` AND p.${quoteIdent(check.asOf.validFrom)} <= c.${quoteIdent(check.asOf.at)}
            AND (p.${quoteIdent(check.asOf.validTo)} IS NULL OR c.${quoteIdent(check.asOf.at)} < p.${quoteIdent(check.asOf.validTo)})`
        : '';
      return {
        sql: `SELECT ${identity.map((c) => `c.${quoteIdent(c)}`).join(', ')} FROM ${t} AS c WHERE c.${quoteIdent(check.column)} IS NOT NULL
                AND NOT EXISTS (SELECT 1 FROM ${parent} AS p WHERE p.${quoteIdent(check.to.column)} = c.${quoteIdent(check.column)}${asOf})`,
        reason: `${check.column} has no match in ${check.to.model}.${check.to.column}${check.asOf ? ` valid at ${check.asOf.at}` : ''}`,
      };
    }
    case 'custom_sql':
      return {
        sql: where(
          userKeys.length
            ? `${quoteIdent(check.key)}::VARCHAR IN (${userKeys.map((k) => binds.add(k)).join(', ')})`
            : 'false',
        ),
        reason: `returned by custom check ${check.name}`,
      };
  }
}

async function rowCheck(ctx: CheckContext, check: RowLevelCheck): Promise<CheckResult> {
  const t = qualified(ctx.shadow, check.model);
  // SQL from config runs in the sandbox only (file access or a write fails the check there); the write
  // connection sees only the keys it returned, as binds.
  const userKeys = check.type === 'custom_sql' ? await customSqlKeys(ctx, check) : [];
  // One list of binds for the failing-rows subquery: every statement embedding it passes these values.
  const binds = new Binds();
  const identity = identityColumns(ctx.models.get(check.model), check.model);
  const found = failingIdentities(ctx, check, binds, identity, userKeys);
  // Rows an operator released from quarantine (same content) pass this check from now on; only marts
  // carry the content hash a release is recorded by.
  const released = identity.includes('_row_hash')
    ? await releasedHashes(ctx.wh, check.model, check.name, ctx.released, binds)
    : null;
  const failing = released
    ? `SELECT ${identity.map(quoteIdent).join(', ')} FROM (${found.sql}) AS r WHERE _row_hash NOT IN (${released})`
    : found.sql;
  const keyColumn = check.type === 'custom_sql' ? check.key : 'columns' in check ? check.columns[0] : check.column;
  const [{ n, total }] = await ctx.wh.query<{ n: number; total: number }>(
    `SELECT (SELECT count(*) FROM (${failing}) AS f)::BIGINT AS n, (SELECT count(*) FROM ${t})::BIGINT AS total`,
    binds.values,
  );
  const failingRows = Number(n);
  const match = joinFailing(identity, failing);
  const samples = failingRows
    ? await ctx.wh.query<{ k: string | null }>(
        `SELECT t.${quoteIdent(keyColumn)}::VARCHAR AS k FROM ${t} AS t JOIN ${match.source} ON ${match.on} ORDER BY 1 NULLS FIRST LIMIT ${SAMPLE}`,
        binds.values,
      )
    : [];
  const escalated = check.severity === 'error' && exceeds(check.escalateAbove, failingRows, Number(total));
  let quarantinedRows = 0;
  if (failingRows && check.severity === 'error' && !escalated)
    quarantinedRows = await quarantineRows(ctx, check.model, check.name, found.reason, {
      sql: failing,
      binds,
      identity,
    });
  const share = Number(total) ? ` (${((100 * failingRows) / Number(total)).toFixed(2)}% of ${total})` : '';
  return {
    check: check.name,
    type: check.type,
    model: check.model,
    severity: escalated ? 'critical' : check.severity,
    status: failingRows ? 'fail' : 'pass',
    failingRows,
    quarantinedRows,
    sampleKeys: samples.map((s) => s.k ?? 'NULL'),
    detail: failingRows
      ? `${failingRows} rows${share}: ${found.reason}${escalated ? ` — above the error threshold (${describe(check.escalateAbove!)}): escalated to critical, nothing quarantined` : ''}`
      : `no rows with ${found.reason}${released ? ' (released rows excepted)' : ''}`,
  };
}

/** Most keys a keyed custom_sql check may return; more fails the check (a query that broad is not a row filter). */
const MAX_CUSTOM_SQL_KEYS = 10_000;

async function customSqlKeys(
  ctx: CheckContext,
  check: Extract<RowLevelCheck, { type: 'custom_sql' }>,
): Promise<string[]> {
  const key = quoteIdent(check.key);
  const rows = await (
    await ctx.userSql()
  ).query<{ k: string }>(
    `SELECT DISTINCT ${key}::VARCHAR AS k FROM (${renderRefs(ctx, check.sql)}) AS q WHERE ${key} IS NOT NULL LIMIT ${MAX_CUSTOM_SQL_KEYS + 1}`,
  );
  if (rows.length > MAX_CUSTOM_SQL_KEYS)
    throw new Error(
      `custom_sql check ${check.name} returned more than ${MAX_CUSTOM_SQL_KEYS} keys: narrow its query (row checks quarantine by key)`,
    );
  return rows.map((r) => r.k);
}

function exceeds(limit: CheckConfig['escalateAbove'], failing: number, total: number): boolean {
  if (!limit || failing === 0) return false;
  return (
    (limit.rows !== undefined && failing > limit.rows) ||
    (limit.fraction !== undefined && total > 0 && failing / total > limit.fraction)
  );
}

function describe(limit: NonNullable<CheckConfig['escalateAbove']>): string {
  return [
    limit.rows !== undefined ? `${limit.rows} rows` : '',
    limit.fraction !== undefined ? `${limit.fraction * 100}% of rows` : '',
  ]
    .filter(Boolean)
    .join(' or ');
}
