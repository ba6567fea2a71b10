import { AWS_EXTERNAL_ID } from '../../config/schema/warehouse';

/**
 * The AWS side of the storage integration (V000__storage_integration.sql): the IAM role Snowflake assumes,
 * as Snowflake's "Option 1: Configuring a Snowflake storage integration to access Amazon S3" describes it.
 * Its trust policy names the two values only `DESC INTEGRATION` shows (STORAGE_AWS_IAM_USER_ARN,
 * STORAGE_AWS_EXTERNAL_ID), so they are parameters here, not config.
 */

/** One statement of the policies below. */
export interface IamStatement {
  Sid: string;
  Effect: 'Allow';
  Principal?: { AWS: string };
  Action: string | string[];
  Resource?: string;
  Condition?: Record<string, Record<string, string | string[]>>;
}

/** An IAM policy document. */
export interface IamPolicy {
  Version: '2012-10-17';
  Statement: IamStatement[];
}

// Snowflake's per-account IAM user; AWS partitions other than `aws` (China, GovCloud) are not supported.
const IAM_USER_ARN = /^arn:aws:iam::\d{12}:user\/(?:[\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$/;
// The same bucket and prefix rules as config's stage section; no `*`, `?` or `${`, which IAM would read as patterns.
const STAGE_URL = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/([A-Za-z0-9_.=-]+(?:\/[A-Za-z0-9_.=-]+)*)\/*$/;

/** Bucket and key prefix (no trailing slash) of a stage URL `s3://<bucket>/<prefix>/`. */
export function parseStageUrl(url: string): { bucket: string; prefix: string } {
  const m = STAGE_URL.exec(url);
  if (!m)
    throw new Error(
      `warehouse.externalStage.url '${url}' must be s3://<bucket>/<prefix>/ with a prefix: the role is limited to that prefix`,
    );
  return { bucket: m[1], prefix: m[2] };
}

/** Trust policy: only Snowflake's IAM user, and only with the integration's external ID, may assume the role. */
export function snowflakeTrustPolicy(iamUserArn: string, externalId: string): IamPolicy {
  if (!IAM_USER_ARN.test(iamUserArn))
    throw new Error(
      `STORAGE_AWS_IAM_USER_ARN '${iamUserArn}' must be an IAM user ARN such as arn:aws:iam::123456789012:user/abc1-s (DESC INTEGRATION shows it)`,
    );
  if (!AWS_EXTERNAL_ID.test(externalId))
    throw new Error(
      `STORAGE_AWS_EXTERNAL_ID '${externalId}' must be an external ID as DESC INTEGRATION shows it (letters, digits and _+=,.@:/-)`,
    );
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'SnowflakeStorageIntegration',
        Effect: 'Allow',
        Principal: { AWS: iamUserArn },
        Action: 'sts:AssumeRole',
        Condition: { StringEquals: { 'sts:ExternalId': externalId } },
      },
    ],
  };
}

/**
 * Permissions policy: what loading needs and no more. COPY INTO only reads, so none of the Put/Delete
 * actions Snowflake lists for unloading and PURGE; listing is limited to the stage prefix.
 */
export function snowflakeStagePolicy(stageUrl: string): IamPolicy {
  const { bucket, prefix } = parseStageUrl(stageUrl);
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'ReadStagedFiles',
        Effect: 'Allow',
        Action: ['s3:GetObject', 's3:GetObjectVersion'],
        Resource: `arn:aws:s3:::${bucket}/${prefix}/*`,
      },
      {
        Sid: 'ListStagePrefix',
        Effect: 'Allow',
        Action: ['s3:ListBucket', 's3:GetBucketLocation'],
        Resource: `arn:aws:s3:::${bucket}`,
        // StringLike, as in Snowflake's policy: the value is a pattern (StringEquals would compare it verbatim).
        Condition: { StringLike: { 's3:prefix': [`${prefix}/*`] } },
      },
    ],
  };
}
