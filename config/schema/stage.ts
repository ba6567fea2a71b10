import { z } from 'zod';

/** Where staged Parquet lives: a local directory (default) or S3. */
export const StageConfigSchema = z.discriminatedUnion('type', [
  z.object({
    /** `<data dir>/stage`. */
    type: z.literal('local'),
  }),
  z.object({
    /** An S3 bucket (credentials from the AWS SDK chain: environment, profile, instance or task role). */
    type: z.literal('s3'),
    /** Bucket holding the stage. */
    bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name'),
    /** Key prefix inside the bucket, e.g. freshline/stage (no leading or trailing slash). */
    prefix: z
      .string()
      .regex(
        /^[A-Za-z0-9_.=-]+(\/[A-Za-z0-9_.=-]+)*$/,
        'must be a key prefix such as freshline/stage (no leading or trailing slash)',
      ),
    /** AWS region of the bucket. */
    region: z.string().min(1),
    /** Endpoint of an S3-compatible server (MinIO, a test server); omit for AWS. */
    endpoint: z.url().optional(),
  }),
]);

export type StageConfig = z.infer<typeof StageConfigSchema>;
