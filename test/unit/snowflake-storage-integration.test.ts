import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { infraSnowflakeTrustPolicyCommand } from '../../cli/infra';
import { ConfigError, DEFAULT_CONFIG_PATH, parseConfig } from '../../config/load';
import type { PipelineConfig } from '../../config/schema';
import { type IamPolicy, snowflakeStagePolicy, snowflakeTrustPolicy } from '../../infra/snowflake/aws-trust';
import { formatPlan, renderSnowflakeInfra } from '../../infra/snowflake/render';

/**
 * The storage integration the external stage reads S3 through (V000__storage_integration.sql) and the
 * IAM role on the AWS side: the DDL as rendered from config, and the two policy documents exactly.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Yaml = any;

const ROLE_ARN = 'arn:aws:iam::123456789012:role/freshline/snowflake-stage';
const IAM_USER_ARN = 'arn:aws:iam::210987654321:user/abc1-b-self1234';
const EXTERNAL_ID = 'MYACCOUNT_SFCRole=2_a1B2c3D4e5F6g7H8i9J0kLmNoPq=';
const PUBLIC_PEM = generateKeyPairSync('rsa', { modulusLength: 2048 })
  .publicKey.export({ type: 'spki', format: 'pem' })
  .toString();

/** The shipped pipeline on Snowflake, its stage at s3://acme-freshline/stage/, Snowflake assuming ROLE_ARN. */
function production(mutate: (c: Yaml) => void = () => undefined): PipelineConfig {
  const c: Yaml = parse(readFileSync(DEFAULT_CONFIG_PATH, 'utf8'));
  c.warehouse = {
    type: 'snowflake',
    account: 'myorg-analytics',
    user: 'FRESHLINE_SVC',
    role: 'FRESHLINE',
    warehouse: 'FRESHLINE_WH',
    database: 'ANALYTICS',
    privateKeySecret: 'freshline/snowflake-key',
    externalStage: {
      name: 'freshline_stage',
      url: 's3://acme-freshline/stage/',
      storageIntegration: 'freshline_s3',
      awsRoleArn: ROLE_ARN,
    },
    biRole: 'bi_reader',
    infra: { tableau: { publicKeySecret: 'freshline/tableau-public-key', allowedIps: ['203.0.113.0/24'] } },
  };
  c.stage = { type: 's3', bucket: 'acme-freshline', prefix: 'stage', region: 'eu-west-1' };
  mutate(c);
  return parseConfig(c);
}

const render = (config = production()) => renderSnowflakeInfra(config, { tableauPublicKey: PUBLIC_PEM });
const integration = (config = production()) => render(config).migrations.find((m) => m.file.includes('storage'));

describe('V000__storage_integration.sql', () => {
  test('creates the integration for the stage URL and role, then brings an existing one back to them', () => {
    const m = integration();
    expect(m).toMatchObject({ file: 'V000__storage_integration.sql', kind: 'versioned', version: 'V000' });
    expect(m?.statements).toEqual([
      [
        'CREATE STORAGE INTEGRATION IF NOT EXISTS "FRESHLINE_S3"',
        "  TYPE = EXTERNAL_STAGE STORAGE_PROVIDER = 'S3' ENABLED = TRUE",
        `  STORAGE_AWS_ROLE_ARN = '${ROLE_ARN}' STORAGE_ALLOWED_LOCATIONS = ('s3://acme-freshline/stage/')`,
        "  COMMENT = 'Freshline: Snowflake reads the S3 stage through this IAM role'",
      ].join('\n'),
      [
        'ALTER STORAGE INTEGRATION "FRESHLINE_S3" SET',
        `  STORAGE_AWS_ROLE_ARN = '${ROLE_ARN}' ENABLED = TRUE STORAGE_ALLOWED_LOCATIONS = ('s3://acme-freshline/stage/')`,
      ].join('\n'),
    ]);
  });

  test('runs before the stage (V002) and the LOADER grant (V004) that need the integration to exist', () => {
    const plan = render();
    expect(plan.migrations.map((m) => m.version).slice(0, 4)).toEqual(['B__bootstrap', 'V000', 'V001', 'V002']);
    const grants = plan.migrations.find((m) => m.version === 'V004')?.statements;
    expect(grants).toContain('GRANT USAGE ON INTEGRATION "FRESHLINE_S3" TO ROLE "ANALYTICS_LOADER"');
    expect(plan.omitted).toEqual([]);
  });

  test("once the external ID is in config the ALTER pins it; only this file's checksum changes", () => {
    const before = render();
    const after = render(production((c) => (c.warehouse.externalStage.externalId = EXTERNAL_ID)));
    expect(after.migrations.find((m) => m.version === 'V000')?.statements[1]).toBe(
      [
        'ALTER STORAGE INTEGRATION "FRESHLINE_S3" SET',
        `  STORAGE_AWS_ROLE_ARN = '${ROLE_ARN}' STORAGE_AWS_EXTERNAL_ID = '${EXTERNAL_ID}' ENABLED = TRUE STORAGE_ALLOWED_LOCATIONS = ('s3://acme-freshline/stage/')`,
      ].join('\n'),
    );
    expect(after.migrations.filter((m, i) => m.checksum !== before.migrations[i].checksum).map((m) => m.file)).toEqual([
      'V000__storage_integration.sql',
    ]);
  });

  test('without awsRoleArn it is left out, the plan saying why, and nothing else changes', () => {
    const withRole = render();
    const without = render(production((c) => delete c.warehouse.externalStage.awsRoleArn));
    const reason =
      'warehouse.externalStage.awsRoleArn is not set, so the storage integration FRESHLINE_S3 must already exist ' +
      '(an account admin creates it); set awsRoleArn to have this apply create it';
    expect(without.omitted).toEqual([{ file: 'V000__storage_integration.sql', reason }]);
    expect(without.migrations).toEqual(withRole.migrations.filter((m) => m.version !== 'V000'));
    expect(formatPlan(without).split('\n')[0]).toBe(`-- V000__storage_integration.sql left out: ${reason}`);
    expect(formatPlan(without)).not.toContain('STORAGE INTEGRATION');
  });
});

describe('config', () => {
  test.each([
    ['arn:aws:iam::12345:role/freshline'],
    ['arn:aws:iam::123456789012:user/freshline'],
    ['arn:aws:s3:::acme-freshline'],
    ["arn:aws:iam::123456789012:role/x' STORAGE_ALLOWED_LOCATIONS = ('s3://other/')"],
    ['arn:aws:iam::123456789012:role/'],
  ])('an invalid role ARN is refused naming warehouse.externalStage.awsRoleArn (%s)', (arn) => {
    const attempt = () => production((c) => (c.warehouse.externalStage.awsRoleArn = arn));
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/warehouse\.externalStage\.awsRoleArn: must be an IAM role ARN/);
  });

  test('render checks the role ARN and external ID itself, for configs built without parsing', () => {
    const config = production();
    if (config.warehouse.type !== 'snowflake') throw new Error('unreachable');
    const stage = config.warehouse.externalStage;
    stage.awsRoleArn = "arn:aws:iam::123456789012:role/x'";
    expect(() => render(config)).toThrow(/warehouse\.externalStage\.awsRoleArn 'arn:aws:iam::123456789012:role\/x''/);
    stage.awsRoleArn = ROLE_ARN;
    stage.externalId = "abc'def";
    expect(() => render(config)).toThrow(/warehouse\.externalStage\.externalId/);
  });

  test('an invalid external ID is refused naming warehouse.externalStage.externalId', () => {
    expect(() => production((c) => (c.warehouse.externalStage.externalId = "x'; DROP"))).toThrow(
      /warehouse\.externalStage\.externalId: must be an external ID/,
    );
  });
});

/** Every action and resource of a policy, for the never-a-wildcard checks. */
const actionsAndResources = (p: IamPolicy) =>
  p.Statement.flatMap((s) => [...[s.Action].flat(), ...(s.Resource === undefined ? [] : [s.Resource])]);

describe("the IAM role's policies", () => {
  test("trust policy: Snowflake's IAM user may assume the role only with the external ID", () => {
    expect(snowflakeTrustPolicy(IAM_USER_ARN, EXTERNAL_ID)).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'SnowflakeStorageIntegration',
          Effect: 'Allow',
          Principal: { AWS: IAM_USER_ARN },
          Action: 'sts:AssumeRole',
          Condition: { StringEquals: { 'sts:ExternalId': EXTERNAL_ID } },
        },
      ],
    });
  });

  test('permissions policy: read objects under the stage prefix, list that prefix only', () => {
    const policy = snowflakeStagePolicy('s3://acme-freshline/freshline/stage/');
    expect(policy).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'ReadStagedFiles',
          Effect: 'Allow',
          Action: ['s3:GetObject', 's3:GetObjectVersion'],
          Resource: 'arn:aws:s3:::acme-freshline/freshline/stage/*',
        },
        {
          Sid: 'ListStagePrefix',
          Effect: 'Allow',
          Action: ['s3:ListBucket', 's3:GetBucketLocation'],
          Resource: 'arn:aws:s3:::acme-freshline',
          Condition: { StringLike: { 's3:prefix': ['freshline/stage/*'] } },
        },
      ],
    });
    // The same without the trailing slash.
    expect(snowflakeStagePolicy('s3://acme-freshline/freshline/stage')).toEqual(policy);
  });

  test('no wildcard action, no "*" resource, and nothing that writes or deletes', () => {
    const all = [
      snowflakeTrustPolicy(IAM_USER_ARN, EXTERNAL_ID),
      snowflakeStagePolicy('s3://acme-freshline/stage/'),
    ].flatMap(actionsAndResources);
    for (const value of all) {
      expect(value).not.toMatch(/^(\*|[a-z0-9]+:\*)$/);
      expect(value).not.toMatch(/Put|Delete/);
    }
    expect(all.filter((v) => v.includes('*'))).toEqual(['arn:aws:s3:::acme-freshline/stage/*']);
  });

  test('values that are not what DESC INTEGRATION shows, or a stage without a prefix, are refused', () => {
    expect(() => snowflakeTrustPolicy('arn:aws:iam::210987654321:root', EXTERNAL_ID)).toThrow(
      /STORAGE_AWS_IAM_USER_ARN .* must be an IAM user ARN/,
    );
    expect(() => snowflakeTrustPolicy('*', EXTERNAL_ID)).toThrow(/STORAGE_AWS_IAM_USER_ARN/);
    expect(() => snowflakeTrustPolicy(IAM_USER_ARN, '')).toThrow(/STORAGE_AWS_EXTERNAL_ID '' must be/);
    expect(() => snowflakeStagePolicy('s3://acme-freshline/')).toThrow(/with a prefix/);
    expect(() => snowflakeStagePolicy('s3://acme-freshline/st*ge/')).toThrow(/must be s3:\/\/<bucket>\/<prefix>\//);
  });
});

describe('freshline infra snowflake trust-policy', () => {
  const run = (opts: { iamUserArn: string; externalId?: string }, config = production()) => {
    const lines: string[] = [];
    const code = infraSnowflakeTrustPolicyCommand(opts, { config, out: (l) => lines.push(l) });
    return { code, printed: JSON.parse(lines.join('\n')) as unknown };
  };

  test('prints both policies for the configured stage as one JSON object', () => {
    expect(run({ iamUserArn: IAM_USER_ARN, externalId: EXTERNAL_ID })).toEqual({
      code: 0,
      printed: {
        trustPolicy: snowflakeTrustPolicy(IAM_USER_ARN, EXTERNAL_ID),
        permissionsPolicy: snowflakeStagePolicy('s3://acme-freshline/stage/'),
      },
    });
  });

  test('the external ID defaults to warehouse.externalStage.externalId, and is required without it', () => {
    const configured = production((c) => (c.warehouse.externalStage.externalId = EXTERNAL_ID));
    expect(run({ iamUserArn: IAM_USER_ARN }, configured).printed).toMatchObject({
      trustPolicy: { Statement: [{ Condition: { StringEquals: { 'sts:ExternalId': EXTERNAL_ID } } }] },
    });
    expect(() => run({ iamUserArn: IAM_USER_ARN })).toThrow(
      /--external-id is required unless warehouse\.externalStage\.externalId is set .*DESC INTEGRATION freshline_s3/,
    );
  });

  test('on the DuckDB default there is no integration', () => {
    const duck = parseConfig(parse(readFileSync(DEFAULT_CONFIG_PATH, 'utf8')));
    expect(() => run({ iamUserArn: IAM_USER_ARN, externalId: EXTERNAL_ID }, duck)).toThrow(
      /the configured warehouse is duckdb/,
    );
  });
});
