import {
  GetSecretValueCommand,
  SecretsManagerClient,
  type SecretsManagerClientConfig,
} from '@aws-sdk/client-secrets-manager';
import type { SecretStore } from './secret-store';
import { pickJsonKey, splitSecretName } from './secret-name';

/** How to reach AWS Secrets Manager and how long fetched values are trusted. */
export interface SecretsManagerStoreOptions {
  /** AWS region holding the secrets, e.g. 'eu-west-1'. */
  region: string;
  /** Endpoint override (VPC endpoint, test stand-in); default the regional AWS endpoint. */
  endpoint?: string;
  /** Static credentials or a provider; default the SDK chain (env, profile, SSO, ECS/EC2 role). */
  credentials?: SecretsManagerClientConfig['credentials'];
  /** Prepended to every name to form the secret id (e.g. 'freshline/prod/'); not applied to ARNs. */
  prefix?: string;
  /** How long a fetched value is served without asking AWS again; default 5 minutes. */
  ttlMs?: number;
  /** How old a cached value may be and still be served when a refresh fails; default 1 hour. */
  maxStaleMs?: number;
  /** SDK attempts per fetch, retries included; default the SDK's own (3). */
  maxAttempts?: number;
  /** Current time in ms; injectable so tests can expire the cache without waiting. */
  clock?: () => number;
  /** Receives a warning when a stale value is served; never sees the value. Default console.warn. */
  onWarning?: (message: string) => void;
}

interface CacheEntry {
  value: string;
  fetchedAt: number;
  /** Until when the value is served without asking AWS (fetch + ttl, or a short back-off after a failure). */
  freshUntil: number;
}

const DEFAULT_TTL_MS = 5 * 60_000;
const DEFAULT_MAX_STALE_MS = 60 * 60_000;
/** After a failed refresh, wait this long (at most the ttl) before asking again, so an outage is not hammered. */
const RETRY_BACKOFF_MS = 30_000;

/**
 * Secrets from AWS Secrets Manager, cached per secret id.
 *
 * Only the AWSCURRENT version is ever read (the SDK default, made explicit below), never AWSPENDING.
 * During rotation the rotation function creates AWSPENDING, sets it in the database/service, tests it,
 * and only in finishSecret moves AWSCURRENT onto it; until then the old credential stays valid. A
 * pending version may not be live yet (or ever, if rotation fails and is retried with a new one), so a
 * client reading it could lock itself out. Clients that hit an auth failure right after rotation call
 * `refresh(name)` and read the new AWSCURRENT at once instead of waiting for the ttl.
 */
export class SecretsManagerStore implements SecretStore {
  private readonly client: SecretsManagerClient;
  private readonly prefix: string;
  private readonly ttlMs: number;
  private readonly maxStaleMs: number;
  private readonly clock: () => number;
  private readonly onWarning: (message: string) => void;
  private readonly cache = new Map<string, CacheEntry>();
  /** One request per secret id at a time; concurrent gets share it. */
  private readonly inFlight = new Map<string, Promise<string>>();
  /** Bumped by refresh() so a request started before it cannot put an older version back in the cache. */
  private readonly generation = new Map<string, number>();

  constructor(private readonly options: SecretsManagerStoreOptions) {
    this.client = new SecretsManagerClient({
      region: options.region,
      endpoint: options.endpoint,
      credentials: options.credentials,
      maxAttempts: options.maxAttempts,
    });
    this.prefix = options.prefix ?? '';
    this.ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
    this.maxStaleMs = options.maxStaleMs ?? DEFAULT_MAX_STALE_MS;
    this.clock = options.clock ?? Date.now;
    this.onWarning = options.onWarning ?? ((message) => console.warn(message));
  }

  /** Returns `secretId` (whole value) or `secretId#jsonKey` (one key of a JSON secret); throws naming the id. */
  async get(name: string): Promise<string> {
    const { secretId, jsonKey } = splitSecretName(name);
    const id = this.secretIdOf(secretId);
    const value = await this.secretValue(id);
    return jsonKey === undefined ? value : pickJsonKey(id, value, jsonKey);
  }

  /** Forgets the cached value of the secret behind `name`, so the next get reads the current version. */
  async refresh(name: string): Promise<void> {
    const id = this.secretIdOf(splitSecretName(name).secretId);
    // Expire rather than delete: if AWS is unreachable right now, the old value is still served (within
    // maxStaleMs) instead of every caller failing.
    const entry = this.cache.get(id);
    if (entry) entry.freshUntil = -Infinity;
    this.inFlight.delete(id);
    this.generation.set(id, (this.generation.get(id) ?? 0) + 1);
  }

  /** Releases the SDK client's sockets. */
  close(): void {
    this.client.destroy();
  }

  private secretIdOf(secretId: string): string {
    return secretId.startsWith('arn:') ? secretId : this.prefix + secretId;
  }

  private secretValue(id: string): Promise<string> {
    const cached = this.cache.get(id);
    if (cached && this.clock() < cached.freshUntil) return Promise.resolve(cached.value);
    const pending = this.inFlight.get(id);
    if (pending) return pending;

    const generation = this.generation.get(id) ?? 0;
    const current = () => this.generation.get(id) ?? 0;
    const request = this.fetch(id).then(
      (value) => {
        const now = this.clock();
        if (generation === current()) this.cache.set(id, { value, fetchedAt: now, freshUntil: now + this.ttlMs });
        return value;
      },
      (error: unknown) => {
        if (generation !== current()) throw error; // refreshed meanwhile: leave the cache to the new request
        return this.staleOrThrow(id, error);
      },
    );
    const shared = request.finally(() => {
      if (this.inFlight.get(id) === shared) this.inFlight.delete(id);
    });
    this.inFlight.set(id, shared);
    return shared;
  }

  /** A failed refresh serves the last good value while it is younger than maxStaleMs. */
  private staleOrThrow(id: string, error: unknown): string {
    const entry = this.cache.get(id);
    const now = this.clock();
    const age = entry ? now - entry.fetchedAt : Infinity;
    if (!entry || age >= this.maxStaleMs) throw error;
    entry.freshUntil = Math.min(now + Math.min(this.ttlMs, RETRY_BACKOFF_MS), entry.fetchedAt + this.maxStaleMs);
    const reason = error instanceof Error ? error.message : String(error);
    this.onWarning(
      `serving cached secret '${id}' fetched ${Math.round(age / 1000)}s ago because refreshing it failed ` +
        `(${reason}); it is served for at most ${Math.round(this.maxStaleMs / 1000)}s after fetching`,
    );
    return entry.value;
  }

  private async fetch(id: string): Promise<string> {
    let out;
    try {
      out = await this.client.send(new GetSecretValueCommand({ SecretId: id, VersionStage: 'AWSCURRENT' }));
    } catch (error) {
      throw describeAwsError(id, this.options.region, error);
    }
    if (out.SecretString !== undefined) return out.SecretString;
    // The SDK has already decoded the API's base64 into bytes; we hand out text, so read them as UTF-8.
    if (out.SecretBinary !== undefined) return Buffer.from(out.SecretBinary).toString('utf8');
    throw new Error(
      `secret '${id}' in AWS Secrets Manager (${this.options.region}) has neither SecretString nor SecretBinary`,
    );
  }
}

/** Turns an SDK failure into a message naming the secret id and AWS error code; AWS messages carry no values. */
function describeAwsError(id: string, region: string, error: unknown): Error {
  const code = errorCode(error);
  if (code === 'ResourceNotFoundException') {
    return new Error(`secret '${id}' not found in AWS Secrets Manager (${region})`, { cause: error });
  }
  const detail = error instanceof Error && error.message && error.message !== code ? `: ${error.message}` : '';
  return new Error(`cannot read secret '${id}' from AWS Secrets Manager (${region}): ${code}${detail}${hint(code)}`, {
    cause: error,
  });
}

function errorCode(error: unknown): string {
  if (error && typeof error === 'object') {
    const { name, code } = error as { name?: unknown; code?: unknown };
    // Network errors carry a Node code (ECONNREFUSED); service errors carry the AWS code as their name.
    if (typeof code === 'string') return code;
    if (typeof name === 'string' && name !== 'Error') return name;
  }
  return 'UnknownError';
}

function hint(code: string): string {
  switch (code) {
    case 'UnrecognizedClientException':
    case 'InvalidSignatureException':
    case 'ExpiredTokenException':
    case 'InvalidClientTokenId':
      return ' (check the AWS credentials the worker runs with)';
    case 'AccessDeniedException':
      return ' (the worker role needs secretsmanager:GetSecretValue on it, and kms:Decrypt on its key)';
    case 'DecryptionFailure':
      return " (the worker role needs kms:Decrypt on the secret's KMS key)";
    default:
      return '';
  }
}
