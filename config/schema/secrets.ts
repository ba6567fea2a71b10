import { z } from 'zod';
import { duration } from './common';

/** Where secrets come from: the environment and `<data dir>/secrets.env` (default), or AWS Secrets Manager. */
export const SecretsConfigSchema = z.discriminatedUnion('type', [
  z.object({
    /** Environment variables, then `<data dir>/secrets.env`. */
    type: z.literal('env'),
  }),
  z.object({
    /** AWS Secrets Manager (credentials from the AWS SDK chain). */
    type: z.literal('aws'),
    /** AWS region holding the secrets. */
    region: z.string().min(1),
    /** Prepended to every secret name to form the secret id, e.g. freshline/prod/. */
    prefix: z.string().optional(),
    /** How long a fetched value is served before asking AWS again (default 5m). */
    ttl: duration.optional(),
  }),
]);

export type SecretsConfig = z.infer<typeof SecretsConfigSchema>;
