import type { SecretStore } from '../activities/secrets/secret-store';
import { SnowflakeWarehouse, type SnowflakeWarehouseOptions } from '../activities/warehouse/engines/snowflake';
import { loadConfig } from '../config/load';
import type { PipelineConfig } from '../config/schema';
import { applySnowflakeInfra } from '../infra/snowflake/apply';
import { snowflakeStagePolicy, snowflakeTrustPolicy } from '../infra/snowflake/aws-trust';
import { formatPlan, renderSnowflakeInfra, snowflakeInfraConfig } from '../infra/snowflake/render';
import { openSecretStore, snowflakeOptions } from '../workers/adapters';
import { cliDataDir } from './secrets';

export interface InfraApplyOptions {
  /** Print the rendered statements; connect to nothing (the Tableau key secret is read if it can be). */
  dryRun?: boolean;
  /** Role to apply as (default warehouse.infra.admin.role, ACCOUNTADMIN). */
  role?: string;
  /** Login to apply as (default warehouse.infra.admin.user, else warehouse.user). */
  user?: string;
}

/** What the command uses; tests pass their own, the CLI reads the config file and the configured secret store. */
export interface InfraApplyDeps {
  config?: PipelineConfig;
  secrets?: SecretStore;
  out?: (line: string) => void;
}

/**
 * `freshline infra snowflake apply [--dry-run]`: renders infra/snowflake/*.sql for the configured
 * Snowflake warehouse and applies the files not yet applied (recorded in <database>.governance.schema_migrations).
 * Returns the exit code.
 */
export async function infraSnowflakeApplyCommand(opts: InfraApplyOptions, deps: InfraApplyDeps = {}): Promise<number> {
  const out = deps.out ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const config = deps.config ?? loadConfig();
  const wh = snowflakeInfraConfig(config); // fails with a clear message unless the warehouse is Snowflake with an infra section
  const secrets = deps.secrets ?? openSecretStore(config.secrets, cliDataDir().dataDir);
  const keySecret = wh.infra.tableau.publicKeySecret;

  if (opts.dryRun) {
    let tableauPublicKey: string | undefined;
    try {
      tableauPublicKey = await secrets.get(keySecret);
    } catch {
      out(`-- secret '${keySecret}' not readable here: RSA_PUBLIC_KEY below is a placeholder`);
    }
    out(formatPlan(renderSnowflakeInfra(config, { tableauPublicKey })));
    return 0;
  }

  const plan = renderSnowflakeInfra(config, { tableauPublicKey: await secrets.get(keySecret) });
  const admin = wh.infra.admin;
  const username = opts.user ?? admin.user ?? wh.user;
  const credentials: Partial<SnowflakeWarehouseOptions> = admin.passwordSecret
    ? { authenticator: 'SNOWFLAKE', passwordSecret: admin.passwordSecret, privateKeySecret: undefined }
    : admin.privateKeySecret
      ? {
          authenticator: 'SNOWFLAKE_JWT',
          privateKeySecret: admin.privateKeySecret,
          privateKeyPassphraseSecret: undefined,
        }
      : {};
  // No session database or warehouse: every name is qualified, and B__bootstrap.sql creates and uses the warehouse.
  const session = await SnowflakeWarehouse.connect(
    {
      ...snowflakeOptions(wh),
      ...credentials,
      username,
      role: opts.role ?? admin.role,
      database: undefined,
      warehouse: undefined,
      queryTag: { app: 'freshline', command: 'infra snowflake apply' },
    },
    secrets,
  );
  try {
    out(`applying infra/snowflake to ${wh.account} as ${username} with role ${opts.role ?? admin.role}`);
    const report = await applySnowflakeInfra(session, plan, { appliedBy: username, log: out });
    out(
      `done: ${report.applied.length} file(s) applied, ${report.skipped.length} already applied, ${report.statements} statement(s)`,
    );
  } finally {
    await session.close();
  }
  return 0;
}

export interface TrustPolicyOptions {
  /** STORAGE_AWS_IAM_USER_ARN from `DESC INTEGRATION <name>`. */
  iamUserArn: string;
  /** STORAGE_AWS_EXTERNAL_ID from `DESC INTEGRATION <name>`; default warehouse.externalStage.externalId. */
  externalId?: string;
}

/**
 * `freshline infra snowflake trust-policy`: prints, as one JSON object, the trust policy (`trustPolicy`) and
 * the permissions policy (`permissionsPolicy`) of the IAM role the storage integration assumes. Connects to
 * nothing. Returns the exit code.
 */
export function infraSnowflakeTrustPolicyCommand(
  opts: TrustPolicyOptions,
  deps: Pick<InfraApplyDeps, 'config' | 'out'> = {},
): number {
  const out = deps.out ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const wh = (deps.config ?? loadConfig()).warehouse;
  if (wh.type !== 'snowflake')
    throw new Error(
      `the configured warehouse is ${wh.type} (warehouse.type), not snowflake: there is no storage integration`,
    );
  const externalId = opts.externalId ?? wh.externalStage.externalId;
  if (externalId === undefined)
    throw new Error(
      `--external-id is required unless warehouse.externalStage.externalId is set (STORAGE_AWS_EXTERNAL_ID in DESC INTEGRATION ${wh.externalStage.storageIntegration})`,
    );
  const policies = {
    trustPolicy: snowflakeTrustPolicy(opts.iamUserArn, externalId),
    permissionsPolicy: snowflakeStagePolicy(wh.externalStage.url),
  };
  out(JSON.stringify(policies, null, 2));
  return 0;
}
