import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for AWS Secrets Manager speaking its JSON 1.1 protocol (POST /, X-Amz-Target
 * `secretsmanager.<Operation>`, `application/x-amz-json-1.1`, errors as `{__type, message}`), with the
 * operations the store and its tests use: GetSecretValue and PutSecretValue. Requests must be SigV4
 * signed with the configured access key, so a test passing proves the client sent its credentials.
 */

/** What the stand-in accepts. */
export interface SecretsManagerStandInOptions {
  /** The only access key id accepted; others get UnrecognizedClientException. */
  accessKeyId: string;
  /** When given, the SigV4 signature itself is verified (else only the Credential's key id is checked). */
  secretAccessKey?: string;
  /** Region in the credential scope and in ARNs; default 'us-east-1'. */
  region?: string;
}

/** One request as the stand-in saw it; never holds secret values. */
export interface LoggedRequest {
  operation: string;
  secretId?: string;
  versionStage?: string;
  accessKeyId?: string;
  status: number;
  /** AWS error code returned, if any. */
  error?: string;
}

/** A running stand-in. */
export interface SecretsManagerStandIn {
  /** Base URL for the SDK's `endpoint` option. */
  endpoint: string;
  /** Creates the secret if needed and adds a version (AWSCURRENT unless `stage` says otherwise); returns its VersionId. */
  put(name: string, value: string | Uint8Array, opts?: { stage?: string }): string;
  /** Every request received, in order, without values. */
  requests: LoggedRequest[];
  /** Number of requests for `operation` (e.g. 'GetSecretValue'), or of all requests. */
  count(operation?: string): number;
  /** Makes the next `n` requests for `operation` (default GetSecretValue) fail with AWS error `errorType`. */
  failNext(n: number, errorType?: string, operation?: string): void;
  /** Stops listening. */
  close(): Promise<void>;
}

interface Version {
  id: string;
  string?: string;
  binary?: Buffer;
  stages: Set<string>;
  createdSeconds: number;
}

interface Secret {
  name: string;
  arn: string;
  versions: Version[];
}

class AwsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const JSON_11 = 'application/x-amz-json-1.1';
const ACCOUNT = '123456789012';
/** HTTP status per AWS error code; everything else is a 400 as in the JSON protocol. */
const STATUS: Record<string, number> = { InternalServiceError: 500, ServiceUnavailable: 503 };

/** Starts the stand-in on 127.0.0.1 at a free port. */
export async function start(options: SecretsManagerStandInOptions): Promise<SecretsManagerStandIn> {
  const region = options.region ?? 'us-east-1';
  const secrets = new Map<string, Secret>();
  const requests: LoggedRequest[] = [];
  const failures: { operation: string; errorType: string }[] = [];

  const find = (secretId: unknown): Secret => {
    const secret =
      typeof secretId === 'string'
        ? (secrets.get(secretId) ?? [...secrets.values()].find((s) => s.arn === secretId))
        : undefined;
    if (!secret) throw new AwsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    return secret;
  };

  const addVersion = (
    secret: Secret,
    value: { string?: string; binary?: Buffer },
    stages: string[],
    id: string = randomUUID(),
  ): Version => {
    for (const stage of stages) {
      for (const v of secret.versions) {
        if (!v.stages.delete(stage) || stage !== 'AWSCURRENT') continue;
        // As in AWS: the version losing AWSCURRENT becomes AWSPREVIOUS.
        for (const other of secret.versions) other.stages.delete('AWSPREVIOUS');
        v.stages.add('AWSPREVIOUS');
      }
    }
    const version: Version = { id, ...value, stages: new Set(stages), createdSeconds: Date.now() / 1000 };
    secret.versions.push(version);
    return version;
  };

  const ensure = (name: string): Secret => {
    let secret = secrets.get(name);
    if (!secret) {
      const suffix = randomBytes(3).toString('hex');
      secret = { name, arn: `arn:aws:secretsmanager:${region}:${ACCOUNT}:secret:${name}-${suffix}`, versions: [] };
      secrets.set(name, secret);
    }
    return secret;
  };

  const operations: Record<string, (body: Record<string, unknown>) => object> = {
    GetSecretValue(body) {
      const secret = find(body.SecretId);
      const stage = typeof body.VersionStage === 'string' ? body.VersionStage : undefined;
      const versionId = typeof body.VersionId === 'string' ? body.VersionId : undefined;
      const version = secret.versions.find((v) =>
        versionId ? v.id === versionId : v.stages.has(stage ?? 'AWSCURRENT'),
      );
      if (!version || (stage && !version.stages.has(stage))) {
        throw new AwsError(
          'ResourceNotFoundException',
          `Secrets Manager can't find the specified secret value for ${versionId ? `VersionId: ${versionId}` : `staging label: ${stage ?? 'AWSCURRENT'}`}`,
        );
      }
      return {
        ARN: secret.arn,
        Name: secret.name,
        VersionId: version.id,
        ...(version.string !== undefined ? { SecretString: version.string } : {}),
        ...(version.binary !== undefined ? { SecretBinary: version.binary.toString('base64') } : {}),
        VersionStages: [...version.stages],
        CreatedDate: version.createdSeconds,
      };
    },
    PutSecretValue(body) {
      const secret = find(body.SecretId);
      const value =
        typeof body.SecretString === 'string'
          ? { string: body.SecretString }
          : typeof body.SecretBinary === 'string'
            ? { binary: Buffer.from(body.SecretBinary, 'base64') }
            : undefined;
      if (!value)
        throw new AwsError('InvalidParameterException', 'You must provide either SecretString or SecretBinary.');
      const stages = Array.isArray(body.VersionStages) ? body.VersionStages.map(String) : ['AWSCURRENT'];
      const token = typeof body.ClientRequestToken === 'string' ? body.ClientRequestToken : undefined;
      const version = addVersion(secret, value, stages, token);
      return { ARN: secret.arn, Name: secret.name, VersionId: version.id, VersionStages: [...version.stages] };
    },
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const raw = await readBody(req);
    const target = String(req.headers['x-amz-target'] ?? '');
    const entry: LoggedRequest = { operation: target.replace(/^secretsmanager\./, ''), status: 200 };
    requests.push(entry);
    const send = (status: number, payload: object) => {
      entry.status = status;
      res.writeHead(status, { 'content-type': JSON_11, 'x-amzn-requestid': randomUUID() });
      res.end(JSON.stringify(payload));
    };
    try {
      entry.accessKeyId = authenticate(req, raw, options, region);
      if (req.method !== 'POST' || req.url !== '/')
        throw new AwsError('UnknownOperationException', 'Only POST / is served.');
      if (!String(req.headers['content-type'] ?? '').startsWith(JSON_11)) {
        throw new AwsError('SerializationException', `Content-Type must be ${JSON_11}.`);
      }
      const operation = target.startsWith('secretsmanager.') ? operations[entry.operation] : undefined;
      if (!operation)
        throw new AwsError('UnknownOperationException', `Unknown operation ${target || '(no X-Amz-Target)'}.`);
      const body = parseJsonObject(raw);
      entry.secretId = typeof body.SecretId === 'string' ? body.SecretId : undefined;
      entry.versionStage = typeof body.VersionStage === 'string' ? body.VersionStage : undefined;
      const failure = failures.findIndex((f) => f.operation === entry.operation);
      if (failure >= 0) {
        const [{ errorType }] = failures.splice(failure, 1);
        throw new AwsError(errorType, `Injected ${errorType} from the stand-in.`, STATUS[errorType] ?? 400);
      }
      send(200, operation(body));
    } catch (error) {
      const e = error instanceof AwsError ? error : new AwsError('InternalServiceError', String(error), 500);
      entry.error = e.type;
      send(e.status, { __type: e.type, message: e.message });
    }
  };

  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    put(name, value, opts) {
      const content = typeof value === 'string' ? { string: value } : { binary: Buffer.from(value) };
      return addVersion(ensure(name), content, [opts?.stage ?? 'AWSCURRENT']).id;
    },
    requests,
    count: (operation) => requests.filter((r) => operation === undefined || r.operation === operation).length,
    failNext(n, errorType = 'InternalServiceError', operation = 'GetSecretValue') {
      for (let i = 0; i < n; i++) failures.push({ operation, errorType });
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

/** Checks the SigV4 Authorization header; returns the access key id or throws the error AWS would. */
function authenticate(
  req: IncomingMessage,
  body: Buffer,
  options: SecretsManagerStandInOptions,
  region: string,
): string {
  const header = req.headers.authorization;
  if (!header) throw new AwsError('MissingAuthenticationTokenException', 'Missing Authentication Token');
  const m =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(
      header,
    );
  if (!m)
    throw new AwsError(
      'IncompleteSignatureException',
      'Authorization header is not a well-formed AWS4-HMAC-SHA256 signature.',
    );
  const [, accessKeyId, date, scopeRegion, service, signedHeaders, signature] = m;
  if (accessKeyId !== options.accessKeyId) {
    throw new AwsError('UnrecognizedClientException', 'The security token included in the request is invalid.');
  }
  if (scopeRegion !== region || service !== 'secretsmanager') {
    throw new AwsError(
      'InvalidSignatureException',
      `Credential should be scoped to a valid region and service ('${region}', 'secretsmanager').`,
    );
  }
  if (options.secretAccessKey === undefined) return accessKeyId;

  const amzDate = String(req.headers['x-amz-date'] ?? '');
  const names = signedHeaders.split(';');
  if (!names.includes('host') || !amzDate.startsWith(date)) {
    throw new AwsError(
      'IncompleteSignatureException',
      'The request must sign the host header and carry a matching X-Amz-Date.',
    );
  }
  const canonicalHeaders = names.map((n) => `${n}:${headerValue(req, n)}\n`).join('');
  const payloadHash = String(req.headers['x-amz-content-sha256'] ?? sha256(body));
  const canonicalRequest = [
    req.method,
    req.url?.split('?')[0] ?? '/',
    req.url?.split('?')[1] ?? '',
    canonicalHeaders,
    signedHeaders,
    payloadHash,
  ].join('\n');
  const scope = `${date}/${region}/secretsmanager/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
  let key = hmac(`AWS4${options.secretAccessKey}`, date);
  for (const part of [region, 'secretsmanager', 'aws4_request']) key = hmac(key, part);
  const expected = createHmac('sha256', key).update(stringToSign).digest();
  if (!timingSafeEqual(expected, Buffer.from(signature, 'hex'))) {
    throw new AwsError(
      'InvalidSignatureException',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
    );
  }
  return accessKeyId;
}

function headerValue(req: IncomingMessage, name: string): string {
  const value = req.headers[name];
  const text = Array.isArray(value) ? value.join(',') : (value ?? '');
  return text.trim().replace(/\s+/g, ' ');
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function parseJsonObject(raw: Buffer): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8') || '{}');
  } catch {
    throw new AwsError('SerializationException', 'Request body is not JSON.');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new AwsError('SerializationException', 'Request body must be a JSON object.');
  }
  return parsed as Record<string, unknown>;
}
