import type { SimpleCatalogProto } from '@fivetrandevelopers/zetasql-snowflake/lib/types/zetasql/SimpleCatalogProto';
import type { TypeProto } from '@fivetrandevelopers/zetasql-snowflake/lib/types/zetasql/TypeProto';

/**
 * What the stand-in knows exists in its Snowflake account: schemas, tables and views with their columns, kept
 * from the DDL and CTAS it received (CTAS and view columns come from the analyzer's resolved output), so a
 * query naming anything that was never created fails like it would in Snowflake. Names are upper-cased:
 * Freshline's sessions set QUOTED_IDENTIFIERS_IGNORE_CASE, under which "raw"."orders" is RAW.ORDERS.
 */

/** ZetaSQL type kinds (zetasql/public/type.proto) as the Snowflake build numbers them. */
export const KIND = {
  INT64: 2,
  BOOL: 5,
  DOUBLE: 7,
  STRING: 8,
  BYTES: 9,
  DATE: 10,
  TIMESTAMP: 19,
  TIME: 20,
  DATETIME: 21,
  NUMERIC: 23,
  BIGNUMERIC: 24,
  JSON: 26,
  VARIANT: 1000,
  OBJECT: 1001,
  ARRAY: 16,
} as const;

/** One column: its name and its type as Snowflake DDL writes it (e.g. NUMBER(12,2), TIMESTAMP_TZ). */
export interface CatalogColumn {
  name: string;
  type: string;
}

/** A table or view of the catalog. */
export interface CatalogRelation {
  kind: 'table' | 'view';
  columns: CatalogColumn[];
  temporary: boolean;
  /** When it was created (INFORMATION_SCHEMA.TABLES.CREATED); set by define when absent. A SWAP keeps it with the data. */
  created?: Date;
}

/** Upper-cases an identifier as Snowflake resolves it here (quotes dropped: case is ignored for quoted names). */
export function normalizeName(name: string): string {
  return name
    .replace(/^"(.*)"$/s, '$1')
    .replace(/""/g, '"')
    .toUpperCase();
}

/** Snowflake's type (as DDL writes it) → the ZetaSQL type the analyzer checks expressions with. */
export function zetaType(snowflakeType: string): TypeProto {
  const t = snowflakeType.trim().toUpperCase();
  const num = /^(?:NUMBER|DECIMAL|NUMERIC)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?$/.exec(t);
  if (num) return { typeKind: Number(num[2] ?? 0) === 0 ? KIND.INT64 : KIND.NUMERIC };
  if (/^(INT|INTEGER|BIGINT|SMALLINT|TINYINT|BYTEINT)$/.test(t)) return { typeKind: KIND.INT64 };
  if (/^(FLOAT|FLOAT4|FLOAT8|DOUBLE|DOUBLE PRECISION|REAL)$/.test(t)) return { typeKind: KIND.DOUBLE };
  if (/^(VARCHAR|STRING|TEXT|CHAR|CHARACTER|NCHAR|NVARCHAR)(\s*\(\d+\))?$/.test(t)) return { typeKind: KIND.STRING };
  if (/^(BINARY|VARBINARY)(\s*\(\d+\))?$/.test(t)) return { typeKind: KIND.BYTES };
  if (t === 'BOOLEAN') return { typeKind: KIND.BOOL };
  if (t === 'DATE') return { typeKind: KIND.DATE };
  if (/^TIME(\(\d\))?$/.test(t)) return { typeKind: KIND.TIME };
  if (/^(TIMESTAMP_TZ|TIMESTAMPTZ|TIMESTAMP_LTZ|TIMESTAMPLTZ)(\(\d\))?$/.test(t)) return { typeKind: KIND.TIMESTAMP };
  if (/^(TIMESTAMP_NTZ|TIMESTAMPNTZ|TIMESTAMP|DATETIME)(\(\d\))?$/.test(t)) return { typeKind: KIND.DATETIME };
  if (t === 'VARIANT') return { typeKind: KIND.VARIANT };
  if (t === 'OBJECT') return { typeKind: KIND.OBJECT };
  if (t === 'ARRAY') return { typeKind: KIND.ARRAY, arrayType: { elementType: { typeKind: KIND.VARIANT } } };
  throw new CatalogError(`Unsupported data type '${snowflakeType}'.`, '002040', '42601');
}

/** The Snowflake type a resolved ZetaSQL column has (CTAS and view outputs). */
export function snowflakeType(type: TypeProto | null | undefined): string {
  switch (Number(type?.typeKind)) {
    case KIND.INT64:
      return 'NUMBER(38,0)';
    case KIND.NUMERIC:
    case KIND.BIGNUMERIC:
      return 'NUMBER(38,10)';
    case KIND.DOUBLE:
      return 'FLOAT';
    case KIND.STRING:
      return 'VARCHAR';
    case KIND.BYTES:
      return 'BINARY';
    case KIND.BOOL:
      return 'BOOLEAN';
    case KIND.DATE:
      return 'DATE';
    case KIND.TIME:
      return 'TIME';
    case KIND.TIMESTAMP:
      return 'TIMESTAMP_TZ';
    case KIND.DATETIME:
      return 'TIMESTAMP_NTZ';
    case KIND.OBJECT:
      return 'OBJECT';
    case KIND.ARRAY:
      return 'ARRAY';
    default:
      return 'VARIANT';
  }
}

const stageKey = (name: string) => (name.match(/"(?:[^"]|"")+"|[^.]+/g) ?? []).map(normalizeName).join('.');

/** The stand-in account's objects. */
export class SnowflakeCatalog {
  private readonly schemas = new Map<string, Map<string, CatalogRelation>>();
  private readonly stages = new Set<string>();
  private lastCreated = 0;
  /** Bumped on every change, so readers can cache what they derived from the catalog. */
  version = 0;

  /** Records an external stage (`schema.name`). */
  createStage(name: string): void {
    this.stages.add(stageKey(name));
  }

  hasStage(name: string): boolean {
    return this.stages.has(stageKey(name));
  }

  /** Creates a schema (idempotent). */
  createSchema(schema: string): void {
    const name = normalizeName(schema);
    if (!this.schemas.has(name)) this.schemas.set(name, new Map());
  }

  hasSchema(schema: string): boolean {
    return this.schemas.has(normalizeName(schema));
  }

  /** Defines (or replaces) a table or view; its schema must exist, as in Snowflake. */
  define(schema: string, name: string, relation: CatalogRelation): void {
    const s = this.schemas.get(normalizeName(schema));
    if (!s) throw new CatalogError(`Schema '${normalizeName(schema)}' does not exist or not authorized.`);
    // Strictly increasing, so two objects created within one millisecond still order as they were made.
    this.version++;
    const created = relation.created ?? new Date((this.lastCreated = Math.max(Date.now(), this.lastCreated + 1)));
    s.set(normalizeName(name), {
      ...relation,
      created,
      columns: relation.columns.map((c) => ({ name: normalizeName(c.name), type: c.type.toUpperCase() })),
    });
  }

  /** Every table and view, with its schema and name (as stored: upper case). */
  relations(): { schema: string; name: string; relation: CatalogRelation }[] {
    return [...this.schemas].flatMap(([schema, tables]) =>
      [...tables].map(([name, relation]) => ({ schema, name, relation })),
    );
  }

  get(schema: string, name: string): CatalogRelation | undefined {
    return this.schemas.get(normalizeName(schema))?.get(normalizeName(name));
  }

  /** Removes a table or view; false when it did not exist. */
  drop(schema: string, name: string): boolean {
    this.version++;
    return this.schemas.get(normalizeName(schema))?.delete(normalizeName(name)) ?? false;
  }

  /** The catalog as the analyzer reads it: one sub-catalog per schema, plus INFORMATION_SCHEMA's views. */
  toProto(builtins: SimpleCatalogProto['builtinFunctionOptions'], functions: SimpleCatalogProto['customFunction']) {
    const schema = (name: string, tables: [string, CatalogColumn[]][]): SimpleCatalogProto => ({
      name,
      table: tables.map(([table, columns]) => ({
        name: table,
        column: columns.map((c) => ({ name: c.name, type: zetaType(c.type) })),
      })),
    });
    const proto: SimpleCatalogProto = {
      name: 'FRESHLINE',
      builtinFunctionOptions: builtins,
      customFunction: functions,
      catalog: [
        ...[...this.schemas].map(([name, tables]) =>
          schema(
            name,
            [...tables].map(([t, r]) => [t, r.columns]),
          ),
        ),
        schema('INFORMATION_SCHEMA', INFORMATION_SCHEMA),
      ],
    };
    return proto;
  }
}

/** A DDL statement the account refuses (the statement layer turns it into Snowflake's error code). */
export class CatalogError extends Error {
  constructor(
    message: string,
    readonly code = '002003',
    readonly sqlState = '02000',
  ) {
    super(message);
  }
}

const cols = (spec: string): CatalogColumn[] =>
  spec.split(',').map((c) => {
    const [name, type] = c.trim().split(/\s+/);
    return { name, type };
  });

/** The INFORMATION_SCHEMA views (and the columns of them Freshline reads), as documented by Snowflake. */
const INFORMATION_SCHEMA: [string, CatalogColumn[]][] = [
  [
    'TABLES',
    cols(
      'TABLE_CATALOG VARCHAR, TABLE_SCHEMA VARCHAR, TABLE_NAME VARCHAR, TABLE_TYPE VARCHAR, IS_TRANSIENT VARCHAR, ROW_COUNT NUMBER, BYTES NUMBER, CREATED TIMESTAMP_LTZ, LAST_ALTERED TIMESTAMP_LTZ',
    ),
  ],
  [
    'COLUMNS',
    cols(
      'TABLE_CATALOG VARCHAR, TABLE_SCHEMA VARCHAR, TABLE_NAME VARCHAR, COLUMN_NAME VARCHAR, ORDINAL_POSITION NUMBER, IS_NULLABLE VARCHAR, DATA_TYPE VARCHAR, CHARACTER_MAXIMUM_LENGTH NUMBER, NUMERIC_PRECISION NUMBER, NUMERIC_SCALE NUMBER, DATETIME_PRECISION NUMBER',
    ),
  ],
  ['SCHEMATA', cols('CATALOG_NAME VARCHAR, SCHEMA_NAME VARCHAR, SCHEMA_OWNER VARCHAR, CREATED TIMESTAMP_LTZ')],
  ['VIEWS', cols('TABLE_CATALOG VARCHAR, TABLE_SCHEMA VARCHAR, TABLE_NAME VARCHAR, VIEW_DEFINITION VARCHAR')],
];
