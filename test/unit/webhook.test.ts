import { sendWebhookAlert, type Alert } from '../../activities/alerts/webhook';
import { startHugeBodyServer, startHttpServer, startRecordingServer } from '../stand-ins/http';
import { startWebhookStandIn } from '../stand-ins/webhook';

// The webhook URL is a bearer secret: errors name the secret, never the URL; the payload never follows a
// redirect; http is refused outside loopback; an error answer is read only up to 4 KiB.

const alert: Alert = { title: 'sales_core blocked', level: 'critical', fields: { dataset: 'sales_core' } };
const secret = 'ALERT_WEBHOOK_URL';

test('posts the alert to the stand-in', async () => {
  const hook = await startWebhookStandIn();
  try {
    await sendWebhookAlert(hook.url, secret, alert);
    expect(hook.received).toEqual([expect.objectContaining({ text: ':rotating_light: sales_core blocked' })]);
  } finally {
    await hook.close();
  }
});

test('a 307 is not followed: the other server never receives the alert, the error names the secret, not the URL', async () => {
  const other = await startRecordingServer();
  const path = '/services/T1/B1/webhook-path-token';
  const first = await startHttpServer(async (req, res) => {
    for await (const _ of req) void _;
    res.writeHead(307, { location: `${other.url}${req.url}` }).end();
  });
  try {
    const err = (await sendWebhookAlert(`${first.url}${path}`, secret, alert).catch((e: unknown) => e)) as Error;
    expect(err.message).toBe(
      `alert webhook (${secret}) answered HTTP 307, a redirect to ${other.url}: not followed — put the final webhook URL in the secret`,
    );
    expect(err.message).not.toContain('webhook-path-token');
    expect(other.received).toEqual([]);
  } finally {
    await first.close();
    await other.close();
  }
});

test('http outside loopback and non-URLs are refused, naming the secret and not the value', async () => {
  const err = (await sendWebhookAlert('http://hooks.example.com/services/T/B/tok3n', secret, alert).catch(
    (e: unknown) => e,
  )) as Error;
  expect(err.message).toBe(
    `alert webhook not sent: secret ${secret} must be an https URL (plain http only for localhost)`,
  );
  const bad = (await sendWebhookAlert('hooks.example.com/tok3n', secret, alert).catch((e: unknown) => e)) as Error;
  expect(bad.message).toBe(`alert webhook not sent: secret ${secret} is not a URL`);
  expect(`${err.message}${bad.message}`).not.toContain('tok3n');
});

test('a huge error body is read only up to 4 KiB', async () => {
  const total = 64 * 1024 * 1024;
  const server = await startHugeBodyServer(500, total);
  const { outcome } = server;
  try {
    const err = (await sendWebhookAlert(`${server.url}/hook`, secret, alert).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(new RegExp(`^alert webhook \\(${secret}\\) answered HTTP 500: x{200}$`));
    const { sentBytes, complete } = await outcome;
    expect(complete).toBe(false);
    expect(sentBytes).toBeLessThan(total);
  } finally {
    await server.close();
  }
});
