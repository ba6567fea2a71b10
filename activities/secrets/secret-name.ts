/** A secret reference `secretId` or `secretId#jsonKey`, split into its parts. */
export interface SecretName {
  secretId: string;
  /** Key inside a JSON SecretString (`#key`); absent means the whole value. */
  jsonKey?: string;
}

/** Splits `secretId#jsonKey` at the first '#', which AWS does not allow in secret names or ARNs. */
export function splitSecretName(name: string): SecretName {
  const hash = name.indexOf('#');
  const secretId = hash < 0 ? name : name.slice(0, hash);
  const jsonKey = hash < 0 ? undefined : name.slice(hash + 1);
  if (!secretId) throw new Error(`secret name '${name}' has no secret id (expected 'secretId' or 'secretId#jsonKey')`);
  if (jsonKey === '') throw new Error(`secret name '${name}' has an empty key after '#' (expected 'secretId#jsonKey')`);
  return { secretId, jsonKey };
}

/** Reads one key of a JSON object secret; errors name the secret and key, never the value. */
export function pickJsonKey(secretId: string, value: string, key: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    // JSON.parse's own message quotes the start of the input, i.e. the secret: do not pass it on.
    throw new Error(`secret '${secretId}' is not JSON, so key '${key}' cannot be read from it`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new Error(`secret '${secretId}' is not a JSON object, so key '${key}' cannot be read from it`);
  }
  const record = parsed as Record<string, unknown>;
  if (!Object.prototype.hasOwnProperty.call(record, key)) {
    throw new Error(`secret '${secretId}' has no key '${key}' (keys: ${Object.keys(record).join(', ') || 'none'})`);
  }
  const picked = record[key];
  if (typeof picked === 'string') return picked;
  // Ports and flags are often stored unquoted; their text form is what a connection string needs.
  if (typeof picked === 'number' || typeof picked === 'boolean') return String(picked);
  throw new Error(`secret '${secretId}' key '${key}' is not a string, number or boolean`);
}
