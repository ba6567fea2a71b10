import {
  retryAfterMs,
  TableauApiError,
  TableauClient,
  type TableauClientOptions,
} from '../../activities/tableau/client';
import { startHugeBodyServer, startHttpServer, startRecordingServer } from '../stand-ins/http';
import { startTableauStandIn, type TableauStandIn } from '../stand-ins/tableau';

// The REST client alone against the stand-in: pagination, waits, backoff, re-sign-in, and errors that
// never carry a credential.

let tab: TableauStandIn;
beforeAll(async () => {
  tab = await startTableauStandIn({ maxPageSize: 1 });
});
afterAll(() => tab?.close());

function client(over: Partial<TableauClientOptions> = {}) {
  const waits: number[] = [];
  const c = new TableauClient({
    server: tab.url,
    site: tab.site,
    apiVersion: '3.25',
    credentials: async () => ({ patName: tab.patName, patSecret: tab.patSecret }),
    credentialsLabel: 'secrets TABLEAU_PAT_NAME, TABLEAU_PAT_SECRET',
    backoffMs: 5,
    sleep: async (ms) => void waits.push(ms),
    ...over,
  });
  return { c, waits };
}

test('retry-after: header seconds or date, else "retry after N minutes" in the detail', () => {
  expect(retryAfterMs('7', undefined)).toBe(7000);
  expect(retryAfterMs(new Date(1_000_000 + 4000).toUTCString(), undefined, 1_000_000)).toBe(4000);
  expect(retryAfterMs(null, 'Too many requests. Please retry after 2 minutes.')).toBe(120_000);
  expect(retryAfterMs(null, 'retry after 0.05 minutes')).toBe(3000);
  expect(retryAfterMs(null, 'Retry in 30 seconds')).toBe(30_000);
  expect(retryAfterMs(null, 'slow down')).toBeUndefined();
});

test('names are looked up across pages; two items with one name come back as two', async () => {
  tab.addItem('datasource', 'Finance', { project: 'Certified' });
  tab.addItem('datasource', 'Finance', { project: 'Sandbox' });
  tab.addItem('datasource', 'Other');
  const { c } = client();
  const found = await c.findByName('datasource', 'Finance');
  expect(found.map((f) => f.project).sort()).toEqual(['Certified', 'Sandbox']);
  expect(tab.requests.filter((r) => r.query.includes('name:eq:Finance')).map((r) => r.query)).toEqual([
    expect.stringContaining('pageNumber=1'),
    expect.stringContaining('pageNumber=2'),
  ]);
  expect(await c.findByName('workbook', 'Finance')).toEqual([]);
  await c.signOut();
});

test('5xx is retried with doubling waits, then reported as retryable', async () => {
  const { c, waits } = client();
  tab.failNext(2, { status: 503 });
  const ds = tab.addItem('datasource', 'Flaky');
  expect(await c.getItem('datasource', ds.id)).toMatchObject({ name: 'Flaky' });
  expect(waits).toEqual([5, 10]);
  tab.failNext(10, { status: 500 });
  const err = await c.getItem('datasource', ds.id).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(TableauApiError);
  expect(err).toMatchObject({ status: 500, retryable: true });
  expect(waits).toEqual([5, 10, 5, 10, 20, 40]);
  tab.failNext(0);
});

test('a 429 is waited out as told (Retry-After header)', async () => {
  const { c, waits } = client();
  tab.rateLimitNext(2, { retryAfterSeconds: 2 });
  expect(await c.findByName('datasource', 'Other')).toHaveLength(1);
  expect(waits).toEqual([2000, 2000]);
});

test('an expired session is signed in again once per request; a refused PAT is final and names its secrets, not its value', async () => {
  const { c } = client();
  await c.findByName('datasource', 'Other');
  tab.expireTokens();
  await c.findByName('datasource', 'Other');
  expect(c.signIns).toBe(2);

  let rejected = 0;
  const bad = client({
    credentials: async () => ({ patName: tab.patName, patSecret: 'wrong-secret-value' }),
    credentialsRejected: async () => void rejected++,
  }).c;
  const err = (await bad.findByName('datasource', 'Other').catch((e: unknown) => e)) as TableauApiError;
  expect(err).toMatchObject({ status: 401, code: '401001', retryable: false });
  expect(err.message).toMatch(
    /sign-in to .* refused the personal access token \(secrets TABLEAU_PAT_NAME, TABLEAU_PAT_SECRET\)/,
  );
  expect(err.message).not.toContain('wrong-secret-value');
  expect(rejected).toBe(1); // secrets re-read once before giving up
});

test('a network failure is retryable and its message carries no credential', async () => {
  const { c } = client({ server: 'http://127.0.0.1:9', serverErrorRetries: 1 });
  const err = (await c.findByName('datasource', 'x').catch((e: unknown) => e)) as TableauApiError;
  expect(err).toMatchObject({ status: 0, retryable: true });
  expect(err.message).toMatch(/Tableau sign in \(POST http:\/\/127\.0\.0\.1:9\) failed/);
  expect(err.message).not.toContain(tab.patSecret);
});

describe('redirects, http and error bodies', () => {
  const patSecret = 'pat-secret-must-not-travel';
  const token = 'session-token-must-not-travel';

  /** A Tableau-like server: signs in (unless `redirectSignIn`), answers every other request with a 307 to `to`. */
  async function redirector(to: string, redirectSignIn: boolean) {
    return startHttpServer(async (req, res) => {
      for await (const _ of req) void _;
      if (req.url?.endsWith('/auth/signin') && !redirectSignIn)
        return void res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ credentials: { token, site: { id: 'site-1' }, user: { id: 'u' } } }));
      res.writeHead(307, { location: `${to}${req.url}` }).end();
    });
  }

  function redirectClient(server: string) {
    return client({ server, credentials: async () => ({ patName: 'freshline', patSecret }) }).c;
  }

  test('a 307 on sign-in is not followed: the other server never sees the PAT, the error names the server', async () => {
    const other = await startRecordingServer();
    const first = await redirector(other.url, true);
    try {
      const err = (await redirectClient(first.url)
        .findByName('datasource', 'x')
        .catch((e: unknown) => e)) as TableauApiError;
      expect(err).toBeInstanceOf(TableauApiError);
      expect(err).toMatchObject({ status: 307, retryable: false });
      expect(err.message).toContain(
        `Tableau sign in (POST ${first.url}) answered HTTP 307, a redirect to ${other.url}`,
      );
      expect(err.message).toContain('not followed');
      expect(err.message).not.toContain(patSecret);
      expect(other.received).toEqual([]);
    } finally {
      await first.close();
      await other.close();
    }
  });

  test('a 307 on an authenticated request is not followed: the other server never sees X-Tableau-Auth', async () => {
    const other = await startRecordingServer();
    const first = await redirector(other.url, false);
    try {
      const c = redirectClient(first.url);
      const err = (await c.findByName('datasource', 'x').catch((e: unknown) => e)) as TableauApiError;
      expect(err).toMatchObject({ status: 307, retryable: false });
      expect(err.message).toMatch(/Tableau find datasource 'x' \(GET http:\/\/127\.0\.0\.1:\d+\) answered HTTP 307/);
      expect(err.message).not.toContain(token);
      await c.signOut(); // sign-out is redirected too, and not followed either
      expect(other.received).toEqual([]);
    } finally {
      await first.close();
      await other.close();
    }
  });

  test('plain http outside loopback is refused before anything is sent', async () => {
    let read = 0;
    const { c } = client({
      server: 'http://tableau.example.com',
      credentials: async () => (read++, { patName: 'n', patSecret }),
    });
    const err = (await c.findByName('datasource', 'x').catch((e: unknown) => e)) as TableauApiError;
    expect(err).toMatchObject({ status: 0, retryable: false });
    expect(err.message).toContain('server http://tableau.example.com must be an https URL');
    expect(read).toBe(1); // read, but never sent anywhere
  });

  test('a huge error body is read only up to 4 KiB', async () => {
    const total = 64 * 1024 * 1024;
    const server = await startHugeBodyServer(400, total);
    const { outcome } = server;
    try {
      const err = (await client({ server: server.url, serverErrorRetries: 0 })
        .c.findByName('datasource', 'x')
        .catch((e: unknown) => e)) as TableauApiError;
      expect(err).toMatchObject({ status: 400, retryable: false });
      expect(err.message).toMatch(/answered HTTP 400: x{200}$/); // what the message keeps of a non-JSON body
      const { sentBytes, complete } = await outcome;
      expect(complete).toBe(false); // we hung up: the 64 MiB were never all taken
      expect(sentBytes).toBeLessThan(total);
    } finally {
      await server.close();
    }
  });
});
