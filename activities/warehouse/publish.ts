import { DUCKDB, SNOWFLAKE, type Dialect } from './dialect';
import { SCHEMAS, shadowSchema } from './layout';
import { clearPublished, publishWhole, unpublishedTable } from './models/changes';
import { MODELS_DIR, readModels } from './models/catalog';
import { tableColumns } from './information-schema';
import { qualified, quoteIdent } from './sql';
import type { Warehouse } from './warehouse';

/** Rows published per certified table, and the tables held back with why. */
export interface PublishResult {
  tables: { table: string; rows: number }[];
  held: { table: string; reason: string }[];
}

/** What a publish needs beyond the tables. */
export interface PublishOptions {
  /** Snowflake: the role dashboards use, granted USAGE and SELECT on `certified` and `bi` after every publish. */
  biRole?: string;
  /**
   * Per mart, the columns computed from PII (lineage, `derivedPiiColumns`): left out of its bi view on
   * every engine, and on Snowflake masked in certified with `maskingPolicy`.
   */
  piiColumns?: Record<string, string[]>;
  /** Snowflake: the masking policy (`<db>.GOVERNANCE.PII_TOKEN_MASK`) set on certified's PII-derived text columns. */
  maskingPolicy?: string;
  /** Where the models are (default: the shipped models/): a mart's `recompute_by` keeps its unpublished changes. */
  modelsDir?: string;
}

type Tx = Pick<Warehouse, 'run' | 'query'>;

/** Columns of a mart that are Freshline's bookkeeping, not for dashboards. */
const HIDDEN_FROM_BI = new Set(['_row_hash']);

/**
 * Applies the dataset's shadow marts to `certified`: per mart, only the groups changed since its last
 * publish (`<mart>__unpublished`: delete those groups' rows, insert the shadow's), or the whole table when
 * it was rebuilt, its columns changed or certified lacks it (models/changes.ts); a mart nothing changed in
 * is left alone. A window's publish costs what it changed, not the tables' size.
 *
 * Atomicity: DuckDB applies every table in one transaction, so dashboards see either all of yesterday's
 * tables or all of today's. Snowflake applies every group change in one explicit transaction (DML only:
 * atomic across tables, and a retried publish finds nothing pending); a whole replacement is a
 * zero-copy `CREATE OR REPLACE TABLE … CLONE`, which Snowflake commits on its own as DDL — so for the
 * seconds a publish with rebuilt marts takes, dashboards can see a rebuilt mart beside others not yet
 * applied. Rebuilds happen on model changes, full refreshes and backfill publishes, never on a window
 * that only brought changes.
 *
 * Dashboards read `bi.<mart>`, a view over the certified table whose columns only ever grow: a column
 * the model no longer produces stays in the view as NULL, so a workbook never breaks on a rename.
 */
export async function publishTables(
  wh: Warehouse,
  dataset: string,
  tables: string[],
  /** Tables not to publish this run (their certified version stays, their changes stay pending), with the reason. */
  hold: PublishResult['held'] = [],
  options: PublishOptions = {},
): Promise<PublishResult> {
  const shadow = shadowSchema(dataset);
  const publishable = tables.filter((t) => !hold.some((h) => h.table === t));
  await wh.ensureSchema(SCHEMAS.certified);
  await wh.ensureSchema(SCHEMAS.bi);
  const models = readModels(options.modelsDir ?? MODELS_DIR);
  const plans: Plan[] = [];
  for (const table of publishable)
    plans.push(await planTable(wh, dataset, shadow, table, models.get(table)?.recomputeBy ?? undefined));
  const snowflake = wh.dialect === 'snowflake';
  if (snowflake && !options.biRole)
    throw new Error('publish on snowflake needs the BI role to grant SELECT to (config warehouse.biRole)');
  const dialect = snowflake ? SNOWFLAKE : DUCKDB;
  const apply = async (tx: Tx, plan: Plan) => {
    const target = qualified(SCHEMAS.certified, plan.table);
    const source = qualified(shadow, plan.table);
    if (plan.how === 'whole')
      await tx.run(
        snowflake
          ? `CREATE OR REPLACE TABLE ${target} CLONE ${source}`
          : `CREATE OR REPLACE TABLE ${target} AS SELECT * FROM ${source}`,
      );
    else if (plan.how === 'groups') {
      const g = quoteIdent(plan.groupBy!);
      const groups = `${g} IN (SELECT ${g} FROM ${plan.unpublished})`;
      await tx.run(`DELETE FROM ${target} WHERE ${groups}`);
      await tx.run(`INSERT INTO ${target} SELECT * FROM ${source} WHERE ${groups}`);
    }
    if (plan.how !== 'none') await clearPublished(tx, dataset, plan.table, plan.unpublished);
  };
  const finish = async (tx: Tx, plan: Plan) => {
    const target = qualified(SCHEMAS.certified, plan.table);
    if (snowflake) await maskDerivedPii(wh, plan.table, options);
    await replaceBiView(tx, plan.table, dialect, options.piiColumns?.[plan.table]);
    const [{ n }] = await tx.query(`SELECT count(*)::BIGINT AS n FROM ${target}`);
    return { table: `${SCHEMAS.certified}.${plan.table}`, rows: Number(n) };
  };
  if (!snowflake)
    return wh.transaction(async (tx) => {
      const out: PublishResult['tables'] = [];
      for (const plan of plans) {
        await apply(tx, plan);
        out.push(await finish(tx, plan));
      }
      return { tables: out, held: hold };
    });
  // Snowflake: DDL commits on its own, so the whole replacements go first (each cleared right after: a
  // retry clones again, the same table); then every group change in one transaction.
  for (const plan of plans.filter((p) => p.how === 'whole')) await apply(wh, plan);
  const groups = plans.filter((p) => p.how === 'groups');
  if (groups.length)
    await wh.transaction(async (tx) => {
      for (const plan of groups) await apply(tx, plan);
    });
  const out: PublishResult['tables'] = [];
  for (const plan of plans) out.push(await finish(wh, plan));
  // Least privilege (infra/snowflake): the BI role reads bi views only — never certified tables, whose
  // schema usage the admin owns. The views the worker just replaced are its own, so it re-grants them
  // (future grants from the DDL cover them too; this makes a publish correct on its own).
  await wh.run(`GRANT SELECT ON ALL VIEWS IN SCHEMA ${quoteIdent(SCHEMAS.bi)} TO ROLE ${quoteIdent(options.biRole!)}`);
  return { tables: out, held: hold };
}

/** How one mart reaches certified this publish. */
interface Plan {
  table: string;
  how: 'whole' | 'groups' | 'none';
  groupBy?: string;
  unpublished?: string;
}

async function planTable(
  wh: Warehouse,
  dataset: string,
  shadow: string,
  table: string,
  groupBy: string | undefined,
): Promise<Plan> {
  const built = await tableColumns(wh, shadow, table);
  if (!built.length)
    throw new Error(`cannot publish ${table}: ${shadow}.${table} does not exist (transform did not build it)`);
  const current = await tableColumns(wh, SCHEMAS.certified, table);
  const sameColumns =
    current.length === built.length && current.every((c, i) => c.name === built[i].name && c.type === built[i].type);
  const unpublished = (await wh.tableExists(shadow, `${table}__unpublished`))
    ? unpublishedTable(shadow, table)
    : undefined;
  // Whole when asked to, or when unpublished groups belong to a mart that no longer says how it groups.
  if (!sameColumns || (await publishWhole(wh, dataset, table)) || (unpublished && !groupBy))
    return { table, how: 'whole', unpublished };
  if (!unpublished) return { table, how: 'none' };
  return { table, how: 'groups', groupBy, unpublished };
}

/**
 * A cloned-in table is the shadow build, which carries no column policies: PII-derived text columns get
 * the masking policy again on every publish (FORCE: re-setting it is a no-op). Other types cannot take
 * the STRING policy; the bi view leaves every PII-derived column out whatever its type.
 */
async function maskDerivedPii(wh: Warehouse, table: string, options: PublishOptions): Promise<void> {
  const pii = new Set(options.piiColumns?.[table] ?? []);
  if (!pii.size) return;
  if (!options.maskingPolicy)
    throw new Error(`publish on snowflake: ${table} has PII-derived columns but no masking policy is configured`);
  const policy = options.maskingPolicy.split('.').map(quoteIdent).join('.');
  const columns = await wh.query<{ name: string; type: string }>(SNOWFLAKE.columnsSql, [SCHEMAS.certified, table]);
  for (const c of columns.filter((c) => pii.has(c.name) && /^(VARCHAR|TEXT|STRING)/i.test(c.type)))
    await wh.run(
      `ALTER TABLE ${qualified(SCHEMAS.certified, table)} MODIFY COLUMN ${quoteIdent(c.name)} SET MASKING POLICY ${policy} FORCE`,
    );
}

/**
 * The stable view: yesterday's columns in their order, then new ones; vanished ones as typed NULLs.
 * Columns computed from PII are never in it: one the view had before is NULL from now on.
 */
async function replaceBiView(tx: Tx, table: string, dialect: Dialect, pii: string[] = []): Promise<void> {
  const columnsOf = (schema: string) => tx.query<{ name: string; type: string }>(dialect.columnsSql, [schema, table]);
  const hidden = new Set([...HIDDEN_FROM_BI, ...pii]);
  const certified = (await columnsOf(SCHEMAS.certified)).filter((c) => !hidden.has(c.name));
  const current = new Set(certified.map((c) => c.name));
  const kept = await columnsOf(SCHEMAS.bi);
  const select = [
    ...kept.map((c) => (current.has(c.name) ? quoteIdent(c.name) : `CAST(NULL AS ${c.type}) AS ${quoteIdent(c.name)}`)),
    ...certified.filter((c) => !kept.some((k) => k.name === c.name)).map((c) => quoteIdent(c.name)),
  ];
  await tx.run(
    `CREATE OR REPLACE VIEW ${qualified(SCHEMAS.bi, table)} AS SELECT ${select.join(', ')} FROM ${qualified(SCHEMAS.certified, table)}`,
  );
}
