import { isLoopbackHost } from '../config/schema/common';

/**
 * What every outbound HTTP call carrying a credential (Tableau's PAT and session token, a webhook URL that
 * is itself a bearer secret) shares:
 * - redirects are never followed (`redirect: 'manual'` and a 3xx becomes an error): fetch's default would
 *   re-send the sign-in body and our headers to whatever origin a 307 names, possibly over plain http;
 * - https is required except on loopback (a local stand-in or an SSH tunnel);
 * - an error answer's body is read only up to a bound, so a hostile or broken server cannot make us buffer
 *   megabytes.
 */

/** How much of an error answer's body is read (the rest is discarded and the connection closed). */
export const ERROR_BODY_LIMIT_BYTES = 4096;

/** Why `url` may not carry a credential, or null when it may: not a URL, or http outside loopback. */
export function insecureUrlReason(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'is not a URL';
  }
  if (u.protocol === 'https:') return null;
  if (u.protocol === 'http:' && isLoopbackHost(u.hostname)) return null;
  return u.protocol === 'http:'
    ? 'must be an https URL (plain http only for localhost)'
    : `must be an https URL, not ${u.protocol}`;
}

/** Whether an answer is a redirect (fetch with `redirect: 'manual'` hands those back as they are). */
export function isRedirect(res: Response): boolean {
  return res.status >= 300 && res.status < 400;
}

/** Where a redirect points, reduced to its origin (path and query may carry tokens), or '(no Location)'. */
export function redirectTarget(res: Response, base: string): string {
  const location = res.headers.get('location');
  if (!location) return '(no Location)';
  try {
    return new URL(location, base).origin;
  } catch {
    return '(an invalid Location)';
  }
}

/**
 * The first `limit` bytes of a body as text (UTF-8; a character cut at the limit becomes U+FFFD), then
 * cancels the rest of the stream. Never throws: a body that fails to read gives what arrived.
 */
export async function readBodyPrefix(res: Response, limit = ERROR_BODY_LIMIT_BYTES): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let ended = false;
  try {
    while (size < limit) {
      const { done, value } = await reader.read();
      if (done) {
        ended = true;
        break;
      }
      const part = value.byteLength > limit - size ? value.subarray(0, limit - size) : value;
      chunks.push(part);
      size += part.byteLength;
    }
  } catch {
    // what arrived is what we have
  } finally {
    // Not read to its end: drop the rest (closes the connection instead of draining it).
    if (!ended) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
  return Buffer.concat(chunks).toString('utf8');
}
