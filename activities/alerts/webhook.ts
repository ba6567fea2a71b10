import { insecureUrlReason, isRedirect, readBodyPrefix, redirectTarget } from '../http';

/** What an alert says: one line for chat, details as key/value fields. */
export interface Alert {
  /** One-line summary, e.g. "sales_core blocked: 2 critical checks failed". */
  title: string;
  /** Severity shown to the on-call engineer. */
  level: 'critical' | 'warning' | 'info';
  /** Key facts (dataset, window, checks, where to act), rendered as fields. */
  fields: Record<string, string>;
  /** Link to the run (Temporal UI), when known. */
  link?: string;
}

/**
 * The Slack-compatible payload (incoming webhooks: `text` plus Block Kit `blocks`); Teams, Mattermost
 * and most chat tools accept the same `text` field.
 */
export function slackPayload(alert: Alert): { text: string; blocks: unknown[] } {
  const icon =
    alert.level === 'critical' ? ':rotating_light:' : alert.level === 'warning' ? ':warning:' : ':information_source:';
  const text = `${icon} ${alert.title}`;
  const fields = Object.entries(alert.fields).map(([k, v]) => ({ type: 'mrkdwn', text: `*${k}*\n${v}` }));
  const blocks: unknown[] = [{ type: 'section', text: { type: 'mrkdwn', text } }];
  // Block Kit allows at most 10 fields per section.
  for (let i = 0; i < fields.length; i += 10) blocks.push({ type: 'section', fields: fields.slice(i, i + 10) });
  if (alert.link)
    blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `<${alert.link}|Open the run>` }] });
  return { text, blocks };
}

/**
 * Posts an alert to a webhook. The URL is a secret (a Slack webhook URL is a bearer credential), so
 * errors name the secret, never the URL. The URL must be https (plain http only on loopback), a redirect
 * is never followed (it would carry the payload elsewhere, possibly over http) and only the first 4 KiB of
 * an error answer are read. Throws on failure: the calling activity retries.
 */
export async function sendWebhookAlert(
  url: string,
  secretName: string,
  alert: Alert,
  timeoutMs = 10_000,
): Promise<void> {
  const insecure = insecureUrlReason(url);
  if (insecure) throw new Error(`alert webhook not sent: secret ${secretName} ${insecure}`);
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(slackPayload(alert)),
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    // No `cause`: the fetch error quotes the webhook URL, which is a credential.
    // eslint-disable-next-line preserve-caught-error
    throw new Error(
      `alert webhook (${secretName}) unreachable: ${(err as Error).name === 'TimeoutError' ? `no answer in ${timeoutMs} ms` : (err as Error).message.split(url).join('<url>')}`,
    );
  }
  if (isRedirect(res)) {
    const to = redirectTarget(res, url);
    await res.body?.cancel();
    throw new Error(
      `alert webhook (${secretName}) answered HTTP ${res.status}, a redirect to ${to}: not followed — put the final webhook URL in the secret`,
    );
  }
  if (!res.ok)
    throw new Error(
      `alert webhook (${secretName}) answered HTTP ${res.status}: ${(await readBodyPrefix(res)).slice(0, 200).split(url).join('<url>')}`,
    );
  await res.body?.cancel();
}
