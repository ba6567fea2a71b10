import { createHash, createPublicKey } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SCHEMAS, rawTable, shadowSchema } from '../../activities/warehouse/layout';
import { parseDuration } from '../../config/duration';
import type { PipelineConfig, SnowflakeWarehouseConfig } from '../../config/schema';
import { AWS_EXTERNAL_ID, AWS_ROLE_ARN } from '../../config/schema/warehouse';

/**
 * Renders infra/snowflake/*.sql for one config: the templates hold the DDL, config supplies the names
 * (database, roles, warehouses, users, stage) and the lists (one shadow schema per dataset, one masking
 * attachment per configured PII column).
 *
 * Files, in the order they run:
 *   B__<name>.sql      bootstrap: every apply, first; what the runner needs (database, governance schema,
 *                      the schema_migrations table, a warehouse to query it with). Not recorded.
 *   V<nnn>__<name>.sql versioned: applied when not yet applied with the same checksum. The text is
 *                      rendered from config, so a config change (a new dataset, a new PII column) changes
 *                      the checksum and the version is applied again; every statement is idempotent, so
 *                      that is safe.
 *   R__<name>.sql      repeatable: every apply, after the versioned files (things that depend on objects
 *                      the pipeline creates later, e.g. raw tables).
 *
 * Template syntax: `{{name}}` inserts a value from the context; `{{#each list}} … {{/each}}` repeats its
 * body per item, names resolving in the item first. Every value is rendered here, already quoted: names
 * as upper-case quoted identifiers (which Snowflake resolves like the unquoted names models use, whatever
 * QUOTED_IDENTIFIERS_IGNORE_CASE says), values as string literals. An unknown name fails the render.
 * A name config may leave unset (see `unsetPlaceholders`) leaves out every file using it, the plan saying why.
 */

/** Where the templates live. */
export const INFRA_SNOWFLAKE_DIR = __dirname;

export type MigrationKind = 'bootstrap' | 'versioned' | 'repeatable';

/** One rendered file. */
export interface RenderedMigration {
  /** File name, e.g. `V004__grants.sql`. */
  file: string;
  kind: MigrationKind;
  /** What schema_migrations records: `V004` (versioned), `R__pii_masking` (repeatable), `B__bootstrap`. */
  version: string;
  /** From the file name: `grants`. */
  description: string;
  /** Statements in order, comments removed, without the trailing `;`. */
  statements: string[];
  /** sha256 of the statements: a versioned file whose checksum is recorded is skipped. */
  checksum: string;
}

/** Names the DDL uses, upper-case and unquoted (as Snowflake stores them). */
export interface InfraNames {
  database: string;
  /** Schema names in the database. */
  schemas: {
    raw: string;
    shadow: string[];
    certified: string;
    bi: string;
    audit: string;
    quarantine: string;
    governance: string;
  };
  roles: { worker: string; loader: string; transformer: string; piiAdmin: string; bi: string; admin: string };
  warehouses: { pipeline: string; bi: string };
  users: { worker: string; tableau: string; admin: string };
  /** `<database>.governance.schema_migrations`. */
  migrationsTable: string;
  maskingPolicy: string;
  networkPolicy: string;
  /** One entry per configured PII column: the raw table (`<database>.RAW.<SOURCE>__<TABLE>`) and column. */
  piiColumns: { table: string; column: string }[];
}

/** The rendered DDL for one config. */
export interface InfraPlan {
  names: InfraNames;
  /** Quoted `"<DB>"."GOVERNANCE"."SCHEMA_MIGRATIONS"`, for the runner's own statements. */
  migrationsTableSql: string;
  migrations: RenderedMigration[];
  /** Files left out because config lacks what they need: neither run nor recorded, so they apply once it is set. */
  omitted: { file: string; reason: string }[];
}

export interface RenderOptions {
  /**
   * Tableau's RSA public key (PEM, or the base64 body), from `warehouse.infra.tableau.publicKeySecret`.
   * Without it the statements carry a placeholder (dry runs that cannot read the secret).
   */
  tableauPublicKey?: string;
  /** Template directory (tests); default infra/snowflake. */
  dir?: string;
}

const SNOWFLAKE_NAME = /^[A-Za-z_][A-Za-z0-9_$]*$/;
const FILE = /^(B|V(\d{3,})|R)__([a-z0-9_]+)\.sql$/;

/** Upper-case name after checking it is a plain Snowflake identifier; `what` names the config field. */
function upper(name: string, what: string): string {
  if (!SNOWFLAKE_NAME.test(name)) {
    throw new Error(
      `${what} '${name}' must be a Snowflake identifier (letters, digits, _ and $) for freshline infra snowflake`,
    );
  }
  return name.toUpperCase();
}

/** `"A"."B"`: quoted upper-case identifiers (parts already checked by `upper`). */
function quoted(...parts: string[]): string {
  return parts.map((p) => `"${p}"`).join('.');
}

/** A Snowflake string literal for values that passed their own validation (no backslashes reach here). */
function literal(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** The configured Snowflake section with its infra part, or an error saying what to configure. */
export function snowflakeInfraConfig(
  config: PipelineConfig,
): SnowflakeWarehouseConfig & { infra: NonNullable<SnowflakeWarehouseConfig['infra']> } {
  const wh = config.warehouse;
  if (wh.type !== 'snowflake') {
    throw new Error(
      `the configured warehouse is ${wh.type} (warehouse.type), not snowflake: there are no Snowflake roles, grants or users to apply. ` +
        "The embedded default's least-privilege copy for Tableau is the read-only tableau.duckdb (README, Connect Tableau).",
    );
  }
  if (!wh.infra) {
    throw new Error(
      "warehouse.infra is not configured: add at least warehouse.infra.tableau.publicKeySecret (the secret holding Tableau's RSA public key) " +
        'and warehouse.infra.tableau.allowedIps (the addresses Tableau connects from); see README, Connect Tableau',
    );
  }
  return { ...wh, infra: wh.infra };
}

/** The masking policy on PII columns (`<DB>.GOVERNANCE.PII_TOKEN_MASK`): the DDL creates it, publish sets it on derived PII. */
export function piiMaskingPolicy(database: string): string {
  return `${database.toUpperCase()}.GOVERNANCE.PII_TOKEN_MASK`;
}

/** Resolves every name the DDL uses from config, checking they are distinct where they must be. */
export function snowflakeInfraNames(config: PipelineConfig): InfraNames {
  const wh = snowflakeInfraConfig(config);
  const { infra } = wh;
  const db = upper(wh.database, 'warehouse.database');
  const roles = {
    worker: upper(wh.role, 'warehouse.role'),
    loader: upper(infra.roles.loader ?? `${db}_LOADER`, 'warehouse.infra.roles.loader'),
    transformer: upper(infra.roles.transformer ?? `${db}_TRANSFORMER`, 'warehouse.infra.roles.transformer'),
    piiAdmin: upper(infra.roles.piiAdmin ?? `${db}_PII_ADMIN`, 'warehouse.infra.roles.piiAdmin'),
    bi: upper(wh.biRole, 'warehouse.biRole'),
    admin: upper(infra.admin.role, 'warehouse.infra.admin.role'),
  };
  const distinct = Object.entries(roles).filter(([k]) => k !== 'admin');
  for (const [i, [a, name]] of distinct.entries()) {
    const clash = distinct.slice(i + 1).find(([, other]) => other === name);
    if (clash) {
      throw new Error(
        `roles ${a} and ${clash[0]} are both ${name}: the worker's role (warehouse.role), LOADER, TRANSFORMER, PII_ADMIN and the BI role ` +
          '(warehouse.biRole) must be different roles (set warehouse.infra.roles.* to rename the functional ones)',
      );
    }
  }
  const warehouses = {
    pipeline: upper(wh.warehouse, 'warehouse.warehouse'),
    bi: upper(infra.tableau.warehouse, 'warehouse.infra.tableau.warehouse'),
  };
  if (warehouses.pipeline === warehouses.bi) {
    throw new Error(
      `warehouse.infra.tableau.warehouse must differ from warehouse.warehouse (${warehouses.pipeline}): Tableau gets its own warehouse and credit quota`,
    );
  }
  const users = {
    worker: upper(wh.user, 'warehouse.user'),
    tableau: upper(infra.tableau.user, 'warehouse.infra.tableau.user'),
    admin: infra.admin.user ?? wh.user,
  };
  if (users.worker === users.tableau)
    throw new Error(`warehouse.infra.tableau.user must differ from warehouse.user (${users.worker})`);
  const up = (s: string) => s.toUpperCase();
  const piiColumns = new Map<string, { table: string; column: string }>();
  for (const ds of config.datasets) {
    for (const t of ds.tables) {
      for (const col of t.pii) {
        const entry = { table: `${db}.${up(SCHEMAS.raw)}.${up(rawTable(ds.source, t.name))}`, column: up(col) };
        piiColumns.set(`${entry.table}.${entry.column}`, entry);
      }
    }
  }
  return {
    database: db,
    schemas: {
      raw: up(SCHEMAS.raw),
      shadow: [...new Set(config.datasets.map((d) => up(shadowSchema(d.name))))],
      certified: up(SCHEMAS.certified),
      bi: up(SCHEMAS.bi),
      audit: up(SCHEMAS.audit),
      quarantine: up(SCHEMAS.quarantine),
      governance: 'GOVERNANCE',
    },
    roles,
    warehouses,
    users,
    migrationsTable: `${db}.GOVERNANCE.SCHEMA_MIGRATIONS`,
    maskingPolicy: piiMaskingPolicy(db),
    networkPolicy: `${users.tableau}_NETWORK_POLICY`,
    piiColumns: [...piiColumns.values()],
  };
}

/**
 * The base64 DER (SPKI) body Snowflake's RSA_PUBLIC_KEY takes, from a PEM or a bare base64 body; fails
 * on anything that is not an RSA public key (a private key pasted by mistake included).
 */
export function rsaPublicKeyBody(text: string): string {
  const trimmed = text.trim();
  if (/PRIVATE KEY/.test(trimmed))
    throw new Error(
      "Tableau's key secret holds a PRIVATE key: store only the public key (Tableau keeps the private one)",
    );
  const pem = trimmed.includes('-----BEGIN')
    ? trimmed
    : `-----BEGIN PUBLIC KEY-----\n${trimmed.replace(/\s+/g, '')}\n-----END PUBLIC KEY-----`;
  let key;
  try {
    key = createPublicKey(pem);
  } catch (err) {
    throw new Error(`Tableau's public key is not a PEM or base64 public key: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (key.asymmetricKeyType !== 'rsa')
    throw new Error(
      `Tableau's public key must be RSA (Snowflake key-pair authentication), not ${key.asymmetricKeyType}`,
    );
  return key.export({ type: 'spki', format: 'der' }).toString('base64');
}

type Context = Record<string, string | Record<string, string>[]>;

/** `value` as a literal once it matches `pattern`; `what` names the config field. */
function checkedLiteral(value: string, pattern: RegExp, what: string, example: string): string {
  if (!pattern.test(value)) throw new Error(`${what} '${value}' must be ${example} for freshline infra snowflake`);
  return literal(value);
}

/**
 * Placeholders config may leave unset, each with the reason the files using it are left out. Without
 * awsRoleArn the storage integration is skipped rather than failing the render: configs from before it
 * existed name an integration an account admin created by hand, and V002/V004 keep working with that one.
 */
function unsetPlaceholders(wh: SnowflakeWarehouseConfig): Record<string, string> {
  if (wh.externalStage.awsRoleArn) return {};
  return {
    storage_aws_role_arn:
      `warehouse.externalStage.awsRoleArn is not set, so the storage integration ${wh.externalStage.storageIntegration.toUpperCase()} ` +
      'must already exist (an account admin creates it); set awsRoleArn to have this apply create it',
  };
}

/** The values templates can use, each already quoted for SQL. */
function contextFor(config: PipelineConfig, names: InfraNames, options: RenderOptions): Context {
  const wh = snowflakeInfraConfig(config);
  const { infra } = wh;
  const db = names.database;
  const schema = (s: string) => quoted(db, s);
  const stageName = upper(wh.externalStage.name, 'warehouse.externalStage.name');
  const publicKey =
    options.tableauPublicKey === undefined
      ? literal(`<RSA public key from secret ${infra.tableau.publicKeySecret}>`)
      : literal(rsaPublicKeyBody(options.tableauPublicKey));
  const unmasked = [names.roles.piiAdmin, names.roles.transformer, names.roles.worker].map(literal).join(', ');
  const networkRule = [db, 'GOVERNANCE', `${names.users.tableau}_INGRESS`];
  return {
    database: quoted(db),
    raw_schema: schema(names.schemas.raw),
    shadow_schemas: names.schemas.shadow.map((s) => ({ schema: schema(s) })),
    certified_schema: schema(names.schemas.certified),
    bi_schema: schema(names.schemas.bi),
    audit_schema: schema(names.schemas.audit),
    quarantine_schema: schema(names.schemas.quarantine),
    governance_schema: schema(names.schemas.governance),
    migrations_table: quoted(...names.migrationsTable.split('.')),
    pipeline_warehouse: quoted(names.warehouses.pipeline),
    bi_warehouse: quoted(names.warehouses.bi),
    warehouse_size: infra.warehouseSize,
    auto_suspend_seconds: String(infra.autoSuspendSeconds),
    bi_statement_timeout_seconds: String(Math.round(parseDuration(infra.tableau.statementTimeout) / 1000)),
    pipeline_monitor: quoted(`${names.warehouses.pipeline}_MONITOR`),
    bi_monitor: quoted(`${names.warehouses.bi}_MONITOR`),
    pipeline_credits: String(infra.monthlyCredits.pipeline),
    bi_credits: String(infra.monthlyCredits.bi),
    stage: quoted(db, names.schemas.raw, stageName),
    stage_url: literal(wh.externalStage.url.replace(/\/*$/, '/')),
    storage_integration: quoted(
      upper(wh.externalStage.storageIntegration, 'warehouse.externalStage.storageIntegration'),
    ),
    ...(wh.externalStage.awsRoleArn !== undefined && {
      storage_aws_role_arn: checkedLiteral(
        wh.externalStage.awsRoleArn,
        AWS_ROLE_ARN,
        'warehouse.externalStage.awsRoleArn',
        'an IAM role ARN such as arn:aws:iam::123456789012:role/freshline-snowflake',
      ),
    }),
    pinned_external_id:
      wh.externalStage.externalId === undefined
        ? ''
        : `STORAGE_AWS_EXTERNAL_ID = ${checkedLiteral(wh.externalStage.externalId, AWS_EXTERNAL_ID, 'warehouse.externalStage.externalId', 'an external ID as DESC INTEGRATION shows it')} `,
    worker_role: quoted(names.roles.worker),
    loader_role: quoted(names.roles.loader),
    transformer_role: quoted(names.roles.transformer),
    pii_admin_role: quoted(names.roles.piiAdmin),
    bi_role: quoted(names.roles.bi),
    worker_user: quoted(names.users.worker),
    tableau_user: quoted(names.users.tableau),
    masking_policy: quoted(...names.maskingPolicy.split('.')),
    masking_body: `CASE WHEN CURRENT_ROLE() IN (${unmasked}) THEN val ELSE '***MASKED***' END`,
    pii_columns: names.piiColumns.map((c) => ({ table: quoted(...c.table.split('.')), column: quoted(c.column) })),
    network_rule: quoted(...networkRule),
    network_rule_name: literal(networkRule.join('.')),
    network_policy: quoted(names.networkPolicy),
    tableau_allowed_ips: infra.tableau.allowedIps.map(literal).join(', '),
    bi_namespace: literal(`${db}.${names.schemas.bi}`),
    tableau_public_key: publicKey,
  };
}

/** Fills one template; fails on any name the context lacks. */
export function renderTemplate(text: string, context: Context, file = 'template'): string {
  const value = (name: string, scope: Context): string => {
    const v = scope[name];
    if (typeof v !== 'string')
      throw new Error(`${file}: unknown placeholder {{${name}}}${Array.isArray(v) ? ' (a list: use {{#each}})' : ''}`);
    return v;
  };
  const fill = (body: string, scope: Context) =>
    body.replace(/\{\{\s*([a-z_]+)\s*\}\}/g, (_, name: string) => value(name, scope));
  const expanded = text.replace(/\{\{#each ([a-z_]+)\}\}([\s\S]*?)\{\{\/each\}\}/g, (_, name: string, body: string) => {
    const list = context[name];
    if (!Array.isArray(list)) throw new Error(`${file}: {{#each ${name}}} needs a list`);
    return list.map((item) => fill(body, { ...context, ...item })).join('');
  });
  const out = fill(expanded, context);
  if (/\{\{|\}\}/.test(out)) throw new Error(`${file}: unbalanced template braces`);
  return out;
}

/**
 * Splits a script into statements on `;`, outside '…' and "…" quotes and $$…$$ blocks; removes `--`
 * and `/* … *\/` comments, trailing spaces and blank lines, so equal scripts give equal statements.
 */
export function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let current = '';
  let i = 0;
  const push = () => {
    const text = current
      .split('\n')
      .map((l) => l.replace(/\s+$/, ''))
      .filter((l) => l.trim() !== '')
      .join('\n')
      .trim();
    if (text) out.push(text);
    current = '';
  };
  while (i < sql.length) {
    const c = sql[i];
    const next = sql[i + 1];
    if (c === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? sql.length : end;
    } else if (c === '/' && next === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? sql.length : end + 2;
    } else if (c === "'" || c === '"' || (c === '$' && next === '$')) {
      const close = c === '$' ? '$$' : c;
      let j = i + close.length;
      while (j < sql.length) {
        if (c === "'" && sql[j] === '\\') j += 2;
        else if (sql.startsWith(close, j) && close.length === 1 && sql[j + 1] === close) j += 2;
        else if (sql.startsWith(close, j)) break;
        else j += 1;
      }
      current += sql.slice(i, j + close.length);
      i = j + close.length;
    } else if (c === ';') {
      push();
      i += 1;
    } else {
      current += c;
      i += 1;
    }
  }
  push();
  return out;
}

/** The template files in run order: bootstrap, versioned by number, repeatable by name. */
function templateFiles(dir: string): { file: string; kind: MigrationKind; version: string; description: string }[] {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .map((file) => {
      const m = FILE.exec(file);
      if (!m)
        throw new Error(
          `${join(dir, file)}: name must be B__<name>.sql, V<nnn>__<name>.sql or R__<name>.sql (lower-case name)`,
        );
      const kind: MigrationKind = m[1] === 'B' ? 'bootstrap' : m[1] === 'R' ? 'repeatable' : 'versioned';
      return { file, kind, version: kind === 'versioned' ? `V${m[2]}` : `${m[1]}__${m[3]}`, description: m[3] };
    });
  const rank = { bootstrap: 0, versioned: 1, repeatable: 2 } as const;
  const versions = new Set<string>();
  for (const f of files) {
    if (versions.has(f.version)) throw new Error(`${dir}: two files have version ${f.version}`);
    versions.add(f.version);
  }
  return files.sort(
    (a, b) => rank[a.kind] - rank[b.kind] || (a.version < b.version ? -1 : a.version > b.version ? 1 : 0),
  );
}

/** Renders every file for `config`. Pure: the same config and key give the same text and checksums. */
export function renderSnowflakeInfra(config: PipelineConfig, options: RenderOptions = {}): InfraPlan {
  const dir = options.dir ?? INFRA_SNOWFLAKE_DIR;
  const names = snowflakeInfraNames(config);
  const context = contextFor(config, names, options);
  const unset = unsetPlaceholders(snowflakeInfraConfig(config));
  const migrations: RenderedMigration[] = [];
  const omitted: InfraPlan['omitted'] = [];
  for (const f of templateFiles(dir)) {
    const text = readFileSync(join(dir, f.file), 'utf8');
    const missing = [...text.matchAll(/\{\{\s*([a-z_]+)\s*\}\}/g)].map((m) => m[1]).find((name) => name in unset);
    if (missing !== undefined) {
      omitted.push({ file: f.file, reason: unset[missing] });
      continue;
    }
    const statements = splitStatements(renderTemplate(text, context, f.file));
    const checksum = createHash('sha256').update(statements.join(';\n')).digest('hex');
    migrations.push({ ...f, statements, checksum });
  }
  return { names, migrationsTableSql: context.migrations_table as string, migrations, omitted };
}

/** The plan as one script (what `--dry-run` prints): runnable as is in a worksheet with the admin role. */
export function formatPlan(plan: InfraPlan): string {
  return [
    ...plan.omitted.map((o) => `-- ${o.file} left out: ${o.reason}`),
    ...plan.migrations.map((m) =>
      [`-- ${m.file} (${m.kind}, checksum ${m.checksum.slice(0, 12)})`, ...m.statements.map((s) => `${s};`)].join('\n'),
    ),
  ].join('\n\n');
}
