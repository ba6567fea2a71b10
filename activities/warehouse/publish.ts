import { DUCKDB, SNOWFLAKE, type Dialect } from './dialect';
import { SCHEMAS, shadowSchema } from './layout';
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
}

type Tx = Pick<Warehouse, 'run' | 'query'>;

/** Columns of a mart that are Freshline's bookkeeping, not for dashboards. */
const HIDDEN_FROM_BI = new Set(['_row_hash']);

/**
 * Swaps the dataset's shadow marts into `certified`. DuckDB: in one transaction, so dashboards see
 * either all of yesterday's tables or all of today's, never a mix. Snowflake: ALTER TABLE … SWAP WITH,
 * atomic per table only (see publishBySwap).
 * Dashboards read `bi.<mart>`, a view over the certified table whose columns only ever grow: a column
 * the model no longer produces stays in the view as NULL, so a workbook never breaks on a rename.
 */
export async function publishTables(
  wh: Warehouse,
  dataset: string,
  tables: string[],
  /** Tables not to publish this run (their certified version stays), with the reason. */
  hold: PublishResult['held'] = [],
  options: PublishOptions = {},
): Promise<PublishResult> {
  const shadow = shadowSchema(dataset);
  const publishable = tables.filter((t) => !hold.some((h) => h.table === t));
  if (wh.dialect === 'snowflake') return { tables: await publishBySwap(wh, shadow, publishable, options), held: hold };
  await wh.ensureSchema(SCHEMAS.certified);
  await wh.ensureSchema(SCHEMAS.bi);
  return wh.transaction(async (tx) => {
    const out: PublishResult['tables'] = [];
    for (const table of publishable) {
      const target = qualified(SCHEMAS.certified, table);
      await tx.run(`CREATE OR REPLACE TABLE ${target} AS SELECT * FROM ${qualified(shadow, table)}`);
      await replaceBiView(tx, table, DUCKDB, options.piiColumns?.[table]);
      const [{ n }] = await tx.query(`SELECT count(*)::BIGINT AS n FROM ${target}`);
      out.push({ table: `${SCHEMAS.certified}.${table}`, rows: Number(n) });
    }
    return { tables: out, held: hold };
  });
}

/**
 * Snowflake: per table, `ALTER TABLE certified.t SWAP WITH shadow.t` (zero-copy; shadow keeps
 * yesterday's table), or `CREATE TABLE certified.t CLONE shadow.t` the first time; then its bi view;
 * then SELECT on the bi views for the BI role (a replaced view is a new object). The BI role never
 * gets the certified tables: a view reads them with its owner's rights (infra/snowflake).
 *
 * Atomicity: each SWAP is atomic for its table, but Snowflake commits every DDL statement on its own,
 * so for the seconds a publish takes dashboards can see some of today's marts beside yesterday's
 * others. All-or-nothing across tables needs a single statement: build the dataset's marts in a schema
 * of their own and `ALTER SCHEMA certified SWAP WITH <that schema>`. Not now: `certified` is shared by
 * every dataset, so a schema swap would first have to clone the other datasets' tables (and this
 * dataset's held ones) into the new schema, and rebuild bi views and grants over it, on every publish.
 *
 * Retries: a second SWAP would put yesterday's table back. SWAP exchanges names, so each table keeps
 * its CREATED time: transform always makes the shadow table anew, so it is newer than certified's
 * until it has been swapped (or cloned) in. A retried publish finds certified newer and leaves it.
 */
async function publishBySwap(
  wh: Warehouse,
  shadow: string,
  tables: string[],
  options: PublishOptions,
): Promise<PublishResult['tables']> {
  const role = options.biRole;
  if (!role) throw new Error('publish on snowflake needs the BI role to grant SELECT to (config warehouse.biRole)');
  await wh.ensureSchema(SCHEMAS.certified);
  await wh.ensureSchema(SCHEMAS.bi);
  const out: PublishResult['tables'] = [];
  for (const table of tables) {
    const target = qualified(SCHEMAS.certified, table);
    const source = qualified(shadow, table);
    const { built, current } = await createdTimes(wh, shadow, table);
    if (built === undefined)
      throw new Error(`cannot publish ${table}: ${shadow}.${table} does not exist (transform did not build it)`);
    if (current === undefined) await wh.run(`CREATE TABLE ${target} CLONE ${source}`);
    else if (built > current) await wh.run(`ALTER TABLE ${target} SWAP WITH ${source}`);
    // else an earlier attempt of this publish already swapped it in.
    await maskDerivedPii(wh, table, options);
    await replaceBiView(wh, table, SNOWFLAKE, options.piiColumns?.[table]);
    const [{ n }] = await wh.query(`SELECT count(*)::BIGINT AS n FROM ${target}`);
    out.push({ table: `${SCHEMAS.certified}.${table}`, rows: Number(n) });
  }
  // Least privilege (infra/snowflake): the BI role reads bi views only — never certified tables, whose
  // schema usage the admin owns. The views the worker just replaced are its own, so it re-grants them
  // (future grants from the DDL cover them too; this makes a publish correct on its own).
  await wh.run(`GRANT SELECT ON ALL VIEWS IN SCHEMA ${quoteIdent(SCHEMAS.bi)} TO ROLE ${quoteIdent(role)}`);
  return out;
}

/** CREATED (epoch ms) of the shadow build and of the certified table, each undefined when missing. */
async function createdTimes(
  wh: Warehouse,
  shadow: string,
  table: string,
): Promise<{ built?: number; current?: number }> {
  // Upper-cased lookups: the session's QUOTED_IDENTIFIERS_IGNORE_CASE stores our names upper-case.
  const rows = await wh.query<{ schema_name: string; created: string }>(
    `SELECT lower(table_schema) AS schema_name, created FROM information_schema.tables
      WHERE table_schema IN (upper($1), upper($2)) AND table_name = upper($3) AND table_type = 'BASE TABLE'`,
    [SCHEMAS.certified, shadow, table],
  );
  const of = (schema: string) => {
    const row = rows.find((r) => r.schema_name === schema);
    return row ? Date.parse(row.created) : undefined;
  };
  return { built: of(shadow), current: of(SCHEMAS.certified) };
}

/**
 * A swapped-in table is the shadow build, which carries no column policies: PII-derived text columns get
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
