import type { AnalyzeResponse__Output } from '@fivetrandevelopers/zetasql-snowflake/lib/types/zetasql/local_service/AnalyzeResponse';
import type { FunctionProto } from '@fivetrandevelopers/zetasql-snowflake/lib/types/zetasql/FunctionProto';
import type { TypeProto } from '@fivetrandevelopers/zetasql-snowflake/lib/types/zetasql/TypeProto';
import { analyzer } from './analyzer-server';
import {
  CatalogError,
  KIND,
  normalizeName,
  snowflakeType,
  zetaType,
  type CatalogColumn,
  type SnowflakeCatalog,
} from './catalog';

/**
 * Every statement the stand-in receives is either analyzed by ZetaSQL's Snowflake analyzer against the
 * stand-in's catalog, or — for statements the analyzer has no grammar for (ALTER SESSION, CREATE STAGE,
 * COPY INTO, SWAP WITH, GRANT, CLONE) — checked against its documented shape, with the objects it names
 * looked up. Anything else is refused: a statement nobody checked proves nothing.
 */

/** A Snowflake error as the REST API reports it. */
export interface SnowflakeError {
  code: string;
  sqlState: string;
  message: string;
}

/** Analyzer gaps: valid Snowflake functions the Snowflake build of ZetaSQL does not know, declared here. */
const GAP_FUNCTIONS: FunctionProto[] = [
  fn('CONCAT_WS', 1, [{ typeKind: KIND.STRING }], { typeKind: KIND.STRING }, true),
  fn('COUNT_IF', 2, [{ typeKind: KIND.BOOL }], { typeKind: KIND.INT64 }),
  // Snowflake's MD5 returns the hex digest as VARCHAR (ZetaSQL's returns BYTES): analyzed as this.
  fn('MD5_HEX', 1, [{ typeKind: KIND.STRING }], { typeKind: KIND.STRING }),
];

function fn(name: string, mode: 1 | 2, args: TypeProto[], returns: TypeProto, repeated = false): FunctionProto {
  return {
    namePath: [name],
    group: 'snowflake_gap',
    mode,
    signature: [
      {
        argument: args.map((type) => ({
          kind: 0,
          type,
          numOccurrences: 1,
          options: { cardinality: repeated ? 1 : 0 },
        })),
        returnType: { kind: 0, type: returns, numOccurrences: 1 },
        contextId: 0,
      },
    ],
  };
}

const compilation = (code: string, sqlState: string, message: string): SnowflakeError => ({
  code,
  sqlState,
  message: `SQL compilation error:\n${message}`,
});

/** Objects named `a.b` / `"a"."b"`; an unqualified name is refused (Freshline always qualifies). */
function qualifiedName(text: string): { schema: string; name: string } | null {
  const m = /^("(?:[^"]|"")+"|[A-Za-z_][\w$]*)\.("(?:[^"]|"")+"|[A-Za-z_][\w$]*)$/.exec(text.trim());
  return m ? { schema: m[1], name: m[2] } : null;
}

const NAME = String.raw`(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)`;
const QNAME = String.raw`${NAME}\.${NAME}`;

/** Checks one statement; returns Snowflake's error, or null when Snowflake would run it. Updates the catalog. */
export async function checkStatement(
  catalog: SnowflakeCatalog,
  sqlText: string,
  /**
   * Receives, for an accepted query, what Snowflake would answer were every table empty (see emptyTableAnswer),
   * and for a CTAS or view the relation it defines (names as written).
   */
  out?: AnalysisOut,
  /** Bind types as the driver sent them (`:1` first); a TEXT bind is a string wherever it stands. */
  bindTypes: string[] = [],
): Promise<SnowflakeError | null> {
  const sql = sqlText.trim().replace(/;\s*$/, '');
  try {
    const shaped = shapeChecked(catalog, sql);
    if (shaped !== undefined) return shaped;
    return await analyzed(catalog, sql, out, bindTypes);
  } catch (err) {
    if (err instanceof CatalogError) return compilation(err.code, err.sqlState, err.message);
    throw err;
  }
}

const missing = (what: string) => new CatalogError(`Object '${what}' does not exist or not authorized.`);

function existing(catalog: SnowflakeCatalog, text: string): { schema: string; name: string } {
  const q = qualifiedName(text);
  if (!q) throw new CatalogError(`the stand-in needs schema-qualified names: ${text}`, '001003', '42000');
  if (!catalog.get(q.schema, q.name)) throw missing(`${normalizeName(q.schema)}.${normalizeName(q.name)}`);
  return q;
}

/** Statements outside the analyzer's grammar, by their documented shape; undefined: not one of them. */
function shapeChecked(catalog: SnowflakeCatalog, sql: string): SnowflakeError | null | undefined {
  if (/^ALTER\s+SESSION\s+(SET|UNSET)\s+\w+/i.test(sql)) return null;
  if (/^(BEGIN(\s+TRANSACTION)?|START\s+TRANSACTION|COMMIT|ROLLBACK)$/i.test(sql)) return null;
  if (new RegExp(String.raw`^USE\s+(ROLE|WAREHOUSE|DATABASE|SCHEMA)\s+${NAME}$`, 'i').test(sql)) return null;
  let m = new RegExp(String.raw`^CREATE\s+(OR\s+REPLACE\s+)?SCHEMA\s+(IF\s+NOT\s+EXISTS\s+)?(${NAME})$`, 'i').exec(sql);
  if (m) {
    catalog.createSchema(m[3]);
    return null;
  }
  m = new RegExp(
    String.raw`^CREATE\s+(OR\s+REPLACE\s+)?STAGE\s+(IF\s+NOT\s+EXISTS\s+)?(${QNAME})\s+URL\s*=\s*'s3://[^']+/'\s+STORAGE_INTEGRATION\s*=\s*${NAME}\s+FILE_FORMAT\s*=\s*\(\s*TYPE\s*=\s*PARQUET\s*\)$`,
    'i',
  ).exec(sql);
  if (m) {
    const q = qualifiedName(m[3])!;
    if (!catalog.hasSchema(q.schema)) throw missing(normalizeName(q.schema));
    catalog.createStage(m[3]);
    return null;
  }
  if (/^COPY\s+INTO\b/i.test(sql)) return copyInto(catalog, sql);
  m = new RegExp(String.raw`^ALTER\s+TABLE\s+(${QNAME})\s+SWAP\s+WITH\s+(${QNAME})$`, 'i').exec(sql);
  if (m) {
    const a = existing(catalog, m[1]);
    const b = existing(catalog, m[2]);
    const ra = catalog.get(a.schema, a.name)!;
    catalog.define(a.schema, a.name, catalog.get(b.schema, b.name)!);
    catalog.define(b.schema, b.name, ra);
    return null;
  }
  m = new RegExp(
    String.raw`^ALTER\s+TABLE\s+(${QNAME})\s+ADD\s+COLUMN\s+(IF\s+NOT\s+EXISTS\s+)?(${NAME})\s+([A-Z_]+(?:\s*\(\s*\d+\s*(?:,\s*\d+\s*)?\))?)(\s+DEFAULT\s+(?:'[^']*'|[\w.]+))?$`,
    'i',
  ).exec(sql);
  if (m) {
    const t = existing(catalog, m[1]);
    const r = catalog.get(t.schema, t.name)!;
    const column = normalizeName(m[3]);
    zetaType(m[4]);
    if (r.columns.some((c) => c.name === column)) {
      if (!m[2]) return compilation('002002', '42710', `Object '${column}' already exists.`);
      return null;
    }
    catalog.define(t.schema, t.name, { ...r, columns: [...r.columns, { name: column, type: m[4] }] });
    return null;
  }
  m = new RegExp(
    String.raw`^GRANT\s+(SELECT|USAGE|INSERT|UPDATE|DELETE|[A-Z ,]+?)\s+ON\s+(?:(ALL|FUTURE)\s+(TABLES|VIEWS)\s+IN\s+SCHEMA|SCHEMA|DATABASE|WAREHOUSE|VIEW|TABLE)\s+(${NAME}(?:\.${NAME})?)\s+TO\s+ROLE\s+${NAME}$`,
    'i',
  ).exec(sql);
  if (m) {
    if (m[2] && !catalog.hasSchema(m[4])) throw missing(normalizeName(m[4]));
    return null;
  }
  m = new RegExp(
    String.raw`^CREATE\s+(OR\s+REPLACE\s+)?(TRANSIENT\s+|TEMPORARY\s+)?TABLE\s+(IF\s+NOT\s+EXISTS\s+)?(${QNAME})\s+CLONE\s+(${QNAME})$`,
    'i',
  ).exec(sql);
  if (m) {
    const src = existing(catalog, m[5]);
    const target = createTarget(catalog, m[4], !!m[1], !!m[3]);
    if (target === 'skip') return null;
    if ('code' in target) return target;
    // A clone is a new object: its own creation time.
    catalog.define(target.schema, target.name, { ...catalog.get(src.schema, src.name)!, created: undefined });
    return null;
  }
  m = new RegExp(
    String.raw`^CREATE\s+(OR\s+REPLACE\s+)?(TRANSIENT\s+|TEMPORARY\s+)?TABLE\s+(IF\s+NOT\s+EXISTS\s+)?(${QNAME})\s*\(`,
    'i',
  ).exec(sql);
  if (m) {
    // Column definitions follow Snowflake's type rules (ZetaSQL's DDL checks differ, e.g. NUMBER(38,0)).
    const q = createTarget(catalog, m[4], !!m[1], !!m[3]);
    if (q === 'skip') return null;
    if ('code' in q) return q;
    const columns = columnDefinitions(sql.slice(m[0].length - 1));
    for (const c of columns) zetaType(c.type);
    catalog.define(q.schema, q.name, { kind: 'table', columns, temporary: /TEMPORARY/i.test(m[2] ?? '') });
    return null;
  }
  m = new RegExp(String.raw`^DROP\s+(TABLE|VIEW)\s+(IF\s+EXISTS\s+)?(${QNAME})$`, 'i').exec(sql);
  if (m) {
    const q = qualifiedName(m[3])!;
    if (!catalog.drop(q.schema, q.name) && !m[2]) throw missing(`${normalizeName(q.schema)}.${normalizeName(q.name)}`);
    return null;
  }
  return undefined;
}

/**
 * Where a CREATE lands: its name to go on with, 'skip' when IF NOT EXISTS found the object (Snowflake then
 * looks at nothing else), or Snowflake's error (schema missing, or the object exists without OR REPLACE).
 */
function createTarget(
  catalog: SnowflakeCatalog,
  nameText: string,
  orReplace: boolean,
  ifNotExists: boolean,
): { schema: string; name: string } | 'skip' | SnowflakeError {
  const q = qualifiedName(nameText)!;
  if (!catalog.hasSchema(q.schema)) throw missing(normalizeName(q.schema));
  if (!catalog.get(q.schema, q.name)) return q;
  if (ifNotExists) return 'skip';
  return orReplace ? q : alreadyExists(q);
}

const alreadyExists = (q: { schema: string; name: string }) =>
  compilation('002002', '42710', `Object '${normalizeName(q.schema)}.${normalizeName(q.name)}' already exists.`);

/**
 * COPY INTO <table> FROM '@<stage>/<path>/' [FILES = (…)] FILE_FORMAT = (TYPE = PARQUET)
 * MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE [INCLUDE_METADATA = (<col> = METADATA$FILENAME)] ON_ERROR = … [FORCE = …] [PURGE = …]
 * — the form Freshline loads Parquet with; the table, the stage and the metadata column must exist.
 */
function copyInto(catalog: SnowflakeCatalog, sql: string): SnowflakeError | null {
  const m = new RegExp(
    String.raw`^COPY\s+INTO\s+(${QNAME})\s+FROM\s+'@([^'/]+)/[^']*'\s+(?:FILES\s*=\s*\((?:\s*'[^']+'\s*,?)+\)\s+)?FILE_FORMAT\s*=\s*\(\s*TYPE\s*=\s*PARQUET\s*\)\s+MATCH_BY_COLUMN_NAME\s*=\s*(CASE_INSENSITIVE|CASE_SENSITIVE)(?:\s+INCLUDE_METADATA\s*=\s*\(\s*(${NAME})\s*=\s*METADATA\$FILENAME\s*\))?\s+ON_ERROR\s*=\s*(ABORT_STATEMENT|CONTINUE|SKIP_FILE)(?:\s+FORCE\s*=\s*(?:TRUE|FALSE))?(?:\s+PURGE\s*=\s*(?:TRUE|FALSE))?$`,
    'i',
  ).exec(sql);
  if (!m)
    return compilation('001003', '42000', `syntax error: COPY INTO not in a documented form: ${sql.slice(0, 200)}`);
  const t = existing(catalog, m[1]);
  if (!catalog.hasStage(m[2])) throw missing(normalizeName(m[2]));
  if (m[4]) {
    const column = normalizeName(m[4]);
    if (!catalog.get(t.schema, t.name)!.columns.some((c) => c.name === column))
      return compilation('000904', '42000', `invalid identifier '${column}'`);
  }
  return null;
}

/**
 * Snowflake forms the analyzer lacks, rewritten to equivalents it resolves the same names in: `:n` binds →
 * named parameters, the TIMESTAMPTZ synonym, MD5's VARCHAR result, TRANSIENT/TEMPORARY tables, DELETE … USING,
 * DELETE without WHERE (every row: Snowflake allows it, ZetaSQL insists on a WHERE), QUALIFY without WHERE,
 * a VALUES list in FROM, TABLE(GENERATOR(ROWCOUNT => n)).
 */
function forAnalysis(sql: string): string {
  let out = mapOutsideQuotes(sql, (code) =>
    code
      .replace(/(^|[^\w:]):(\d+)\b/g, '$1@p$2')
      .replace(/\bTIMESTAMPTZ\b/gi, 'TIMESTAMP_TZ')
      .replace(/\bMD5\s*\(/gi, 'MD5_HEX(')
      // Snowflake's NUMBER holds 38 digits, ZetaSQL's NUMERIC 29: the precision is checked here instead.
      .replace(/\b(?:NUMBER|DECIMAL|NUMERIC)\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)/gi, (all, p: string, sc?: string) => {
        if (Number(p) < 1 || Number(p) > 38 || Number(sc ?? 0) > Number(p))
          throw new CatalogError(
            `syntax error: ${all}: precision must be 1–38 and scale at most the precision`,
            '001003',
            '42000',
          );
        return Number(p) > 29 ? 'NUMBER' : all;
      }),
  );
  out = out.replace(/^(CREATE\s+(?:OR\s+REPLACE\s+)?)(?:TRANSIENT|TEMPORARY)\s+(TABLE)\b/i, '$1$2');
  out = qualifyWithWhere(out);
  out = valuesAsSelects(out);
  // GENERATOR's documented form: a constant ROWCOUNT (or TIMELIMIT). Its rows have no columns of their own.
  // SEQ4()/SEQ8() number those rows (an integer; the analyzer cannot declare a function without arguments).
  out = out.replace(/\bSEQ[1248]\s*\(\s*\)/gi, '0');
  out = out.replace(
    /\bTABLE\s*\(\s*GENERATOR\s*\(\s*(?:ROWCOUNT|TIMELIMIT)\s*=>\s*\d+\s*\)\s*\)/gi,
    '(SELECT 1 AS _generated)',
  );
  const using = new RegExp(
    String.raw`^DELETE\s+FROM\s+(${QNAME})\s+AS\s+(\w+)\s+USING\s+([\s\S]+?)\s+WHERE\s+([\s\S]+)$`,
    'i',
  ).exec(out);
  if (using) out = `DELETE FROM ${using[1]} AS ${using[2]} WHERE EXISTS (SELECT 1 FROM ${using[3]} WHERE ${using[4]})`;
  if (new RegExp(String.raw`^DELETE\s+FROM\s+(${QNAME})\s*$`, 'i').test(out)) out = `${out.trimEnd()} WHERE TRUE`;
  return out;
}

/**
 * ZetaSQL accepts QUALIFY only in a SELECT that also has WHERE, GROUP BY or HAVING; Snowflake does not ask
 * for one. A `WHERE TRUE` is added to such a SELECT (found at the QUALIFY's parenthesis depth).
 */
function qualifyWithWhere(sql: string): string {
  // Literals and comments blanked to the same length, so positions in `code` are positions in `sql`.
  const code = sql.replace(/'(?:[^'\\]|\\.|'')*'|"(?:[^"]|"")*"|--[^\n]*/g, (m) => ' '.repeat(m.length));
  const depthAt: number[] = [];
  let depth = 0;
  for (let i = 0; i < code.length; i++) {
    if (code[i] === '(') depth++;
    depthAt.push(depth);
    if (code[i] === ')') depth--;
  }
  const inserts: number[] = [];
  for (const q of code.matchAll(/\bQUALIFY\b/gi)) {
    const at = q.index;
    const d = depthAt[at];
    const words = [...code.slice(0, at).matchAll(/\b(SELECT|WHERE|GROUP\s+BY|HAVING)\b/gi)].filter(
      (w) => depthAt[w.index] === d,
    );
    const fromSelect = words.slice(words.map((w) => w[1].toUpperCase()).lastIndexOf('SELECT'));
    if (!fromSelect.some((w) => w[1].toUpperCase() !== 'SELECT')) inserts.push(at);
  }
  return inserts.reverse().reduce((text, at) => `${text.slice(0, at)}WHERE TRUE ${text.slice(at)}`, sql);
}

/**
 * `FROM (VALUES (a, b), …) AS t (x, y)` — Snowflake's inline table, which the analyzer cannot parse — as the
 * same rows written as `SELECT a AS x, b AS y UNION ALL …`: names and types resolve alike.
 */
function valuesAsSelects(sql: string): string {
  const LITERAL = String.raw`'(?:[^']|'')*'`;
  const ROW = String.raw`\((?:${LITERAL}|[^()'])*\)`;
  return sql.replace(
    new RegExp(String.raw`\(\s*VALUES\s*((?:${ROW}\s*,?\s*)+)\)\s*AS\s+(\w+)\s*\(([^)]*)\)`, 'gi'),
    (_all, rows: string, alias: string, names: string) => {
      const columns = names.split(',').map((n) => n.trim());
      const selects = [...rows.matchAll(new RegExp(ROW, 'g'))].map((row) => {
        const values = row[0].slice(1, -1).match(new RegExp(String.raw`${LITERAL}|[^,]+`, 'g')) ?? [];
        return `SELECT ${values.map((v, i) => `${v.trim()} AS ${columns[i]}`).join(', ')}`;
      });
      return `(${selects.join(' UNION ALL ')}) AS ${alias}`;
    },
  );
}

/** Applies `f` to the parts of `sql` outside string literals and quoted identifiers. */
function mapOutsideQuotes(sql: string, f: (code: string) => string): string {
  return sql
    .split(/('(?:[^'\\]|\\.|'')*'|"(?:[^"]|"")*"|\$\$[\s\S]*?\$\$)/)
    .map((part, i) => (i % 2 ? part : f(part)))
    .join('');
}

async function analyzed(
  catalog: SnowflakeCatalog,
  sql: string,
  out: AnalysisOut | undefined,
  bindTypes: string[],
): Promise<SnowflakeError | null> {
  const { client, language } = await analyzer();
  // Undeclared parameters take their type from where they stand, and a bare select-list one becomes INT64;
  // Snowflake types a bind by what the driver sent, so text binds are declared strings.
  const queryParameters = bindTypes.flatMap((t, i) =>
    t === 'TEXT' ? [{ name: `p${i + 1}`, type: { typeKind: KIND.STRING } }] : [],
  );
  const rewritten = forAnalysis(sql);
  const create = new RegExp(
    String.raw`^CREATE\s+(OR\s+REPLACE\s+)?(?:(TRANSIENT|TEMPORARY)\s+)?(TABLE|VIEW)\s+(IF\s+NOT\s+EXISTS\s+)?(${QNAME})`,
    'i',
  ).exec(sql);
  const target = create ? createTarget(catalog, create[5], !!create[1], !!create[4]) : null;
  if (target === 'skip') return null;
  if (target && 'code' in target) return target;
  let response: AnalyzeResponse__Output | undefined;
  const registered = await registeredCatalog(catalog, client, language);
  try {
    response = await client.analyze({
      sqlStatement: rewritten,
      registeredCatalogId: registered.id,
      options: { languageOptions: language, allowUndeclaredParameters: true, queryParameters },
    });
  } catch (err) {
    // gRPC INVALID_ARGUMENT is the analyzer refusing the statement; anything else is the analyzer failing.
    const e = err as { code?: number; details?: string; message?: string };
    if (e.code !== 3) throw new Error(`the ZetaSQL analyzer failed: ${e.details ?? e.message}`, { cause: err });
    return snowflakeError(String(e.details ?? e.message));
  } finally {
    registered.release();
  }
  if (out) out.emptyAnswer = emptyTableAnswer(response);
  if (create && target) {
    const q = target;
    const rest = sql.slice(create[0].length).trimStart();
    const fromQuery = /^AS\b/i.test(rest) || create[3].toUpperCase() === 'VIEW';
    const columns = fromQuery ? outputColumns(response) : columnDefinitions(rest);
    if (out && fromQuery) out.created = q;
    catalog.define(q.schema, q.name, {
      kind: create[3].toUpperCase() === 'VIEW' ? 'view' : 'table',
      columns,
      temporary: create[2]?.toUpperCase() === 'TEMPORARY',
    });
  }
  return null;
}

/** A catalog version registered with the analyzer, and how many analyses are using it. */
interface Registration {
  version: number;
  id: Promise<string>;
  users: number;
  stale: boolean;
}
const registrations = new WeakMap<SnowflakeCatalog, Registration>();

/**
 * The analyzer builds a catalog (tables and every builtin function) for each request that sends one; a
 * catalog registered once per version is built once. A version the DDL moved past is unregistered when its
 * last analysis ends, so the analyzer holds one or two catalogs per stand-in, not one per statement.
 */
async function registeredCatalog(
  catalog: SnowflakeCatalog,
  client: Awaited<ReturnType<typeof analyzer>>['client'],
  language: Awaited<ReturnType<typeof analyzer>>['language'],
): Promise<{ id: string; release: () => void }> {
  let r = registrations.get(catalog);
  if (!r || r.version !== catalog.version) {
    if (r) retire(client, r, true);
    const proto = catalog.toProto({ languageOptions: language }, GAP_FUNCTIONS);
    r = {
      version: catalog.version,
      id: client.registerCatalog({ simpleCatalog: proto }).then((res) => String(res!.registeredId)),
      users: 0,
      stale: false,
    };
    registrations.set(catalog, r);
  }
  const current = r;
  current.users++;
  const id = await current.id;
  return { id, release: () => retire(client, current, false) };
}

function retire(client: Awaited<ReturnType<typeof analyzer>>['client'], r: Registration, stale: boolean): void {
  if (stale) r.stale = true;
  else r.users--;
  if (r.stale && r.users === 0)
    void r.id.then((id) => client.unRegisterCatalog({ registeredId: id })).catch(() => undefined);
}

/** What an accepted statement's analysis tells the caller. */
export interface AnalysisOut {
  emptyAnswer?: EmptyAnswer;
  created?: { schema: string; name: string };
}

/** A query's result as the stand-in encodes it. */
export interface EmptyAnswer {
  columns: { name: string; type: string }[];
  rows: unknown[][];
}

type Node = Record<string, unknown>;
const only = (node: unknown): [string, Node] => {
  const [key, value] = Object.entries((node ?? {}) as Node).find(([, v]) => v) ?? ['', {}];
  return [key, value as Node];
};

/**
 * What Snowflake answers a query with when the tables it reads are empty, from the analyzer's resolved
 * tree: a scalar aggregate (no GROUP BY) or a FROM-less SELECT gives one row — counts 0, everything else
 * NULL — and any other query no rows. Tests program data-dependent answers on top of this.
 */
function emptyTableAnswer(response: AnalyzeResponse__Output | undefined): EmptyAnswer | undefined {
  const stmt = (response?.resolvedStatement as Node | undefined)?.resolvedQueryStmtNode as Node | undefined;
  if (!stmt) return undefined;
  const output = (stmt.outputColumnList ?? []) as {
    name: string;
    column?: { columnId?: { low: number }; type?: TypeProto };
  }[];
  const columns = output.map((c) => ({ name: c.name.toUpperCase(), type: snowflakeType(c.column?.type) }));
  let [kind, scan] = only(stmt.query);
  while (['resolvedProjectScanNode', 'resolvedOrderByScanNode', 'resolvedLimitOffsetScanNode'].includes(kind))
    [kind, scan] = only(scan.inputScan);
  if (kind === 'resolvedSingleRowScanNode') return { columns, rows: [output.map(() => null)] };
  const aggregate =
    kind === 'resolvedAggregateScanBaseNode' ? (scan.resolvedAggregateScanNode as Node | undefined) : undefined;
  const base = aggregate?.parent as Node | undefined;
  if (!base || ((base.groupByList ?? []) as unknown[]).length > 0) return { columns, rows: [] };
  const counts = new Set(
    ((base.aggregateList ?? []) as { column?: { columnId?: { low: number } } }[])
      .filter((a) => /ZetaSQL:\$count/.test(JSON.stringify(a)))
      .map((a) => a.column?.columnId?.low),
  );
  return { columns, rows: [output.map((c) => (counts.has(c.column?.columnId?.low) ? 0 : null))] };
}

/** The resolved output columns of a CTAS or view (the first outputColumnList in the resolved tree). */
function outputColumns(response: unknown): CatalogColumn[] {
  const find = (node: unknown): { name: string; column?: { type?: TypeProto } }[] | null => {
    if (!node || typeof node !== 'object') return null;
    const o = node as Record<string, unknown>;
    if (Array.isArray(o.outputColumnList))
      return o.outputColumnList as { name: string; column?: { type?: TypeProto } }[];
    for (const v of Object.values(o)) {
      const found = find(v);
      if (found) return found;
    }
    return null;
  };
  return (find(response) ?? []).map((c) => ({ name: c.name, type: snowflakeType(c.column?.type) }));
}

/** Column definitions of `(name TYPE [constraints], …)` as written (exact types, e.g. NUMBER(12,2)). */
function columnDefinitions(body: string): CatalogColumn[] {
  const open = body.indexOf('(');
  let depth = 0;
  let start = open + 1;
  const defs: string[] = [];
  for (let i = open; i < body.length; i++) {
    if (body[i] === '(') depth++;
    else if (body[i] === ')' && --depth === 0) {
      defs.push(body.slice(start, i));
      break;
    } else if (body[i] === ',' && depth === 1) {
      defs.push(body.slice(start, i));
      start = i + 1;
    }
  }
  return defs
    .map((d) => d.trim())
    .filter((d) => d && !/^(PRIMARY\s+KEY|UNIQUE|FOREIGN\s+KEY|CONSTRAINT)\b/i.test(d))
    .map((d) => {
      const m = new RegExp(
        String.raw`^(${NAME})\s+([A-Z_]+(?:\s+PRECISION)?(?:\s*\(\s*\d+\s*(?:,\s*\d+\s*)?\))?)`,
        'i',
      ).exec(d);
      if (!m) throw new CatalogError(`syntax error: column definition ${d}`, '001003', '42000');
      return { name: normalizeName(m[1]), type: m[2].replace(/\bTIMESTAMPTZ\b/i, 'TIMESTAMP_TZ') };
    });
}

/** The analyzer's message as the Snowflake error a client sees for it. */
function snowflakeError(message: string): SnowflakeError {
  const at = /\[at (\d+):(\d+)\]/.exec(message);
  const where = at ? `line ${at[1]} at position ${Number(at[2]) - 1}` : 'line 1 at position 0';
  const text = message.replace(/\s*\[at \d+:\d+\][\s\S]*$/, '');
  let m = /^Syntax error: (.*)$/s.exec(text);
  if (m) return compilation('001003', '42000', `syntax error ${where} ${m[1].trim()}`);
  m = /^Table not found: (.+?)(?:;|$)/.exec(text);
  if (m) return compilation('002003', '42S02', `Object '${m[1].toUpperCase()}' does not exist or not authorized.`);
  m = /^Unrecognized name: (\w+)/.exec(text);
  if (m) return compilation('000904', '42000', `error ${where}\ninvalid identifier '${m[1].toUpperCase()}'`);
  m = /^Function not found: (\w+)/.exec(text);
  if (m) return compilation('002140', '42601', `Unknown function ${m[1].toUpperCase()}`);
  if (/No matching signature/.test(text)) return compilation('001044', '42P13', `error ${where}\n${text}`);
  return compilation('002016', '42601', `error ${where}\n${text}`);
}
