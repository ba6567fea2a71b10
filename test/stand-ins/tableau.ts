import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { asyncHandler } from './http';

/**
 * A stand-in for the Tableau REST API (JSON flavour, as Tableau Cloud / Server answer it), enough for
 * extract refreshes:
 *
 *   POST /api/<ver>/auth/signin                         PAT sign-in → { credentials: { token, site: { id, contentUrl }, user: { id } } }
 *   POST /api/<ver>/auth/signout                        204
 *   GET  /api/<ver>/sites/<site id>/datasources|workbooks[?filter=name:eq:<name>][&pageSize&pageNumber]
 *   GET  /api/<ver>/sites/<site id>/datasources|workbooks/<luid>
 *   POST /api/<ver>/sites/<site id>/datasources|workbooks/<luid>/refresh   202 { job: { id, mode, type, createdAt } }
 *   GET  /api/<ver>/sites/<site id>/jobs/<job id>       { job: { …, progress, startedAt?, completedAt?, finishCode?, extractRefreshJob } }
 *   GET  /api/<ver>/sites/<site id>/jobs[?filter=jobType:eq|in:…,status:eq:…]   { pagination, backgroundJobs: { backgroundJob: [...] } }
 *
 * Errors are `{ error: { code, summary, detail } }` with Tableau's codes: 401001 bad PAT, 401002 expired or
 * unknown token, 404 unknown item or job, 409090 item without an extract, 409093 refresh of the item
 * already queued or running, 429000 rate limited, 5xx on demand. As on Tableau, a PAT has one session at a
 * time: a new sign-in ends the previous one.
 *
 * Jobs move on when polled: each GET of a job advances it (queued → in progress → finished), so a test
 * runs as fast as the client polls (defaults: the 1st poll sees it queued, the next 2 in progress, the 4th finished).
 * An item's jobs finish with the codes queued by `setOutcomes`
 * (default 0 = success; 1 failed, 2 cancelled).
 *
 * Time scale: Tableau says "retry after N minutes" on 429; `rateLimitNext(n, { minutes })` takes
 * fractions (0.05 = 3 s), which the client parses like any other number, so tests wait seconds.
 *
 * Requests are recorded (method, path, query, status, error code, PAT name at sign-in) — never a body,
 * a token or the PAT secret.
 */

export type StandInKind = 'datasource' | 'workbook';

export interface StandInItem {
  kind: StandInKind;
  id: string;
  name: string;
  project: string;
  /** false: refreshing it answers 409090 (no extract). */
  hasExtract: boolean;
  /** true: refreshing it answers 403 (the PAT's user lacks permission). */
  forbidden: boolean;
}

export interface StandInJob {
  id: string;
  item: StandInItem;
  createdAt: string;
  startedAt?: string;
  completedAt?: string;
  finishCode?: number;
  /** Started through the refresh endpoint (false: put there by `startJob`, i.e. someone else's refresh). */
  viaApi: boolean;
  /** GETs of this job so far. */
  polls: number;
  /** GETs after which this job finishes (default: the stand-in's pollsQueued + pollsRunning). */
  finishAfterPolls?: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: string;
  status: number;
  code?: string;
  /** Sign-in only: the PAT name presented. */
  patName?: string;
  at: number;
}

export interface TableauStandInOptions {
  /** Site content URL ('' = default site). */
  site?: string;
  patName?: string;
  patSecret?: string;
  /** Largest page the server returns whatever pageSize asks (Tableau: 1000). */
  maxPageSize?: number;
  /** Polls that see a job queued, then in progress (defaults 1 and 2: the 4th poll sees it finished). */
  pollsQueued?: number;
  pollsRunning?: number;
}

export interface TableauStandIn {
  /** The server URL for config (bi.tableau.server). */
  url: string;
  site: string;
  siteId: string;
  patName: string;
  patSecret: string;
  requests: RecordedRequest[];
  jobs: StandInJob[];
  /** Every token ever issued (tests check none leaks). */
  tokensIssued: string[];
  addItem(
    kind: StandInKind,
    name: string,
    opts?: Partial<Pick<StandInItem, 'hasExtract' | 'forbidden' | 'project' | 'id'>>,
  ): StandInItem;
  /** Finish codes of the item's next jobs, in order; afterwards 0. */
  setOutcomes(item: StandInItem, codes: number[]): void;
  /** A refresh of the item already queued (someone else's, e.g. a Tableau schedule): the API then answers 409093. */
  startJob(item: StandInItem, opts?: { running?: boolean; finishAfterPolls?: number }): StandInJob;
  /** Ends every session now: the next request answers 401 (401002). */
  expireTokens(): void;
  /** Ends every session after `n` more authenticated requests. */
  expireTokensAfter(n: number): void;
  /** The next `n` requests matching `path` (default: any but sign-in) answer 429 asking to wait `minutes` (and/or a Retry-After header in seconds). */
  rateLimitNext(n: number, opts?: { minutes?: number; retryAfterSeconds?: number; path?: RegExp }): void;
  /** The next `n` requests matching `path` (default: any but sign-in) answer `status` (default 503; 401 answers 401002 as for a session ended elsewhere). */
  failNext(n: number, opts?: { status?: number; path?: RegExp }): void;
  /** The next `n` polls of the item's jobs answer `status` (default 401: the session ended elsewhere). */
  failJobPolls(item: StandInItem, n: number, status?: number): void;
  /** Jobs created through the refresh endpoint for the item. */
  refreshesOf(item: StandInItem): StandInJob[];
  /** Most unfinished jobs at once (any origin), since start or `resetPeak`. */
  peakRunning(): number;
  resetPeak(): void;
  close(): Promise<void>;
}

/** Starts the stand-in on 127.0.0.1 with a free port. */
export async function startTableauStandIn(opts: TableauStandInOptions = {}): Promise<TableauStandIn> {
  const site = opts.site ?? 'freshline-test';
  const siteId = randomUUID();
  const userId = randomUUID();
  const patName = opts.patName ?? 'freshline-refresh';
  const patSecret = opts.patSecret ?? `pat-${randomBytes(18).toString('base64url')}`;
  const maxPageSize = opts.maxPageSize ?? 1000;
  const pollsQueued = opts.pollsQueued ?? 1;
  const pollsRunning = opts.pollsRunning ?? 2;

  const items: StandInItem[] = [];
  const jobs: StandInJob[] = [];
  const outcomes = new Map<string, number[]>();
  const tokens = new Map<string, { live: boolean }>();
  const requests: RecordedRequest[] = [];
  const tokensIssued: string[] = [];
  let expireAfter: number | null = null;
  let rateLimits: { n: number; minutes?: number; retryAfterSeconds?: number; path?: RegExp } = { n: 0 };
  let failures: { n: number; status: number; path?: RegExp } = { n: 0, status: 503 };
  let peak = 0;
  const pollFailures = new Map<string, { n: number; status: number }>();

  const unfinished = () => jobs.filter((j) => j.completedAt === undefined).length;
  const notePeak = () => (peak = Math.max(peak, unfinished()));
  const newJob = (item: StandInItem, viaApi: boolean): StandInJob => {
    const job: StandInJob = { id: randomUUID(), item, createdAt: new Date().toISOString(), viaApi, polls: 0 };
    jobs.push(job);
    notePeak();
    return job;
  };
  const advance = (job: StandInJob) => {
    if (job.completedAt) return;
    job.polls++;
    if (job.polls > pollsQueued && !job.startedAt) job.startedAt = new Date().toISOString();
    if (job.polls > (job.finishAfterPolls ?? pollsQueued + pollsRunning)) {
      const queue = outcomes.get(job.item.id) ?? [];
      job.finishCode = queue.length ? (queue.shift() as number) : 0;
      job.completedAt = new Date().toISOString();
    }
  };
  const status = (j: StandInJob) =>
    j.completedAt
      ? j.finishCode === 0
        ? 'Success'
        : j.finishCode === 2
          ? 'Cancelled'
          : 'Failed'
      : j.startedAt
        ? 'InProgress'
        : 'Pending';
  const jobJson = (j: StandInJob) => ({
    id: j.id,
    mode: 'Asynchronous',
    type: 'RefreshExtract',
    progress: j.completedAt ? 100 : j.startedAt ? 50 : 0,
    createdAt: j.createdAt,
    ...(j.startedAt ? { startedAt: j.startedAt } : {}),
    ...(j.completedAt ? { completedAt: j.completedAt, finishCode: j.finishCode } : {}),
    extractRefreshJob: {
      ...(j.completedAt && j.finishCode !== 0
        ? {
            notes:
              j.finishCode === 2
                ? 'Refresh cancelled by an administrator (stand-in)'
                : 'Extract refresh failed: the stand-in was told to fail it',
          }
        : {}),
      [j.item.kind]: { id: j.item.id, name: j.item.name },
    },
  });
  const itemJson = (i: StandInItem) => ({
    id: i.id,
    name: i.name,
    project: { id: `p-${i.project}`, name: i.project },
    hasExtracts: i.hasExtract,
  });

  const server = createServer(
    asyncHandler(async (req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const url = new URL(req.url ?? '/', 'http://stand-in');
      const rec: RecordedRequest = {
        method: req.method ?? '?',
        path: url.pathname,
        query: decodeURIComponent(url.search),
        status: 0,
        at: Date.now(),
      };
      requests.push(rec);
      const send = (code: number, body?: unknown, headers: Record<string, string> = {}) => {
        rec.status = code;
        res.writeHead(code, { ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers });
        res.end(body === undefined ? undefined : JSON.stringify(body));
      };
      const error = (
        code: number,
        tableauCode: string,
        summary: string,
        detail: string,
        headers: Record<string, string> = {},
      ) => {
        rec.code = tableauCode;
        send(code, { error: { code: tableauCode, summary, detail } }, headers);
      };

      const m = /^\/api\/(\d+\.\d+)(\/.*)$/.exec(url.pathname);
      if (!m) return error(404, '404000', 'Resource Not Found', 'Unknown path (the stand-in serves /api/<version>/…)');
      const path = m[2];
      const body = (() => {
        try {
          return chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>) : {};
        } catch {
          return null;
        }
      })();
      if (body === null) return error(400, '400000', 'Bad Request', 'The request body is not JSON');

      if (req.method === 'POST' && path === '/auth/signin') {
        const creds = (body.credentials ?? {}) as {
          personalAccessTokenName?: string;
          personalAccessTokenSecret?: string;
          site?: { contentUrl?: string };
        };
        rec.patName = creds.personalAccessTokenName;
        if (
          creds.personalAccessTokenName !== patName ||
          creds.personalAccessTokenSecret !== patSecret ||
          creds.site?.contentUrl !== site
        ) {
          return error(401, '401001', 'Signin Error', 'Error signing in to Tableau Server');
        }
        // One session per PAT, as on Tableau: a new sign-in ends the previous session.
        for (const t of tokens.values()) t.live = false;
        const token = `${randomBytes(12).toString('hex')}|${randomBytes(16).toString('base64url')}`;
        tokens.set(token, { live: true });
        tokensIssued.push(token);
        return send(200, {
          credentials: {
            site: { id: siteId, contentUrl: site },
            user: { id: userId },
            token,
            estimatedTimeToExpiration: '365:00:00',
          },
        });
      }

      const token = req.headers['x-tableau-auth'];
      const session = typeof token === 'string' ? tokens.get(token) : undefined;
      if (req.method === 'POST' && path === '/auth/signout') {
        if (session) session.live = false;
        return send(204);
      }
      if (!session?.live)
        return error(401, '401002', 'Unauthorized Access', 'Invalid authentication credentials were provided.');
      if (expireAfter !== null && expireAfter-- <= 0) {
        expireAfter = null;
        for (const t of tokens.values()) t.live = false;
        return error(401, '401002', 'Unauthorized Access', 'Invalid authentication credentials were provided.');
      }
      if (failures.n > 0 && (failures.path ?? /./).test(path)) {
        failures.n--;
        if (failures.status === 401)
          return error(401, '401002', 'Unauthorized Access', 'Invalid authentication credentials were provided.');
        return error(
          failures.status,
          `${failures.status}000`,
          'Internal Server Error',
          'The stand-in was told to fail this request',
        );
      }
      if (rateLimits.n > 0 && (rateLimits.path ?? /./).test(path)) {
        rateLimits.n--;
        const headers: Record<string, string> =
          rateLimits.retryAfterSeconds !== undefined ? { 'Retry-After': String(rateLimits.retryAfterSeconds) } : {};
        const detail =
          rateLimits.minutes !== undefined
            ? `Too many requests for this site. Please retry after ${rateLimits.minutes} minutes.`
            : 'Too many requests for this site.';
        return error(429, '429000', 'Too Many Requests', detail, headers);
      }

      const s = /^\/sites\/([^/]+)(\/.*)$/.exec(path);
      if (!s) return error(404, '404000', 'Resource Not Found', `Unknown path ${path}`);
      if (s[1] !== siteId) return error(403, '403000', 'Forbidden', 'The token is for another site');
      const rest = s[2];
      const pageOf = <T>(list: T[]) => {
        const size = Math.min(Number(url.searchParams.get('pageSize') ?? 100), maxPageSize);
        const number = Number(url.searchParams.get('pageNumber') ?? 1);
        return {
          page: list.slice((number - 1) * size, number * size),
          pagination: { pageNumber: String(number), pageSize: String(size), totalAvailable: String(list.length) },
        };
      };
      const filters = parseFilter(url.searchParams.get('filter') ?? '');

      const list = /^\/(datasources|workbooks)$/.exec(rest);
      if (req.method === 'GET' && list) {
        const kind = list[1] === 'datasources' ? 'datasource' : 'workbook';
        const matching = items.filter(
          (i) =>
            i.kind === kind &&
            filters.every(
              (f) => f.field !== 'name' || (f.op === 'eq' ? i.name === f.values[0] : f.values.includes(i.name)),
            ),
        );
        const { page, pagination } = pageOf(matching);
        return send(200, { pagination, [`${kind}s`]: { [kind]: page.map(itemJson) } });
      }
      const one = /^\/(datasources|workbooks)\/([^/]+)(\/refresh)?$/.exec(rest);
      if (one) {
        const kind = one[1] === 'datasources' ? 'datasource' : 'workbook';
        const item = items.find((i) => i.kind === kind && i.id === decodeURIComponent(one[2]));
        if (!item)
          return error(
            404,
            kind === 'datasource' ? '404011' : '404006',
            'Resource Not Found',
            `${kind === 'datasource' ? 'Datasource' : 'Workbook'} '${one[2]}' could not be found.`,
          );
        if (req.method === 'GET' && !one[3]) return send(200, { [kind]: itemJson(item) });
        if (req.method === 'POST' && one[3]) {
          if (item.forbidden)
            return error(
              403,
              '403004',
              'Forbidden',
              `The user does not have permission to refresh ${kind} '${item.name}'.`,
            );
          if (!item.hasExtract)
            return error(409, '409090', 'Conflict', `The ${kind} '${item.name}' does not have an extract to refresh.`);
          const active = jobs.find((j) => j.item === item && !j.completedAt);
          if (active)
            return error(409, '409093', 'Resource Conflict', `Job for '${item.name}' is already queued or running.`);
          const job = newJob(item, true);
          return send(202, {
            job: { id: job.id, mode: 'Asynchronous', type: 'RefreshExtract', createdAt: job.createdAt },
          });
        }
      }
      if (req.method === 'GET' && rest === '/jobs') {
        const matching = jobs
          .filter((j) =>
            filters.every((f) =>
              f.field === 'jobType'
                ? f.values.includes('refresh_extracts')
                : f.field === 'status'
                  ? f.values.includes(status(j))
                  : f.field === 'title'
                    ? f.values.includes(j.item.name)
                    : true,
            ),
          )
          .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
        const { page, pagination } = pageOf(matching);
        return send(200, {
          pagination,
          backgroundJobs: {
            backgroundJob: page.map((j) => ({
              id: j.id,
              status: status(j),
              createdAt: j.createdAt,
              ...(j.startedAt ? { startedAt: j.startedAt } : {}),
              jobType: 'refresh_extracts',
              priority: 50,
              title: j.item.name,
              subtitle: j.item.kind === 'datasource' ? 'Data Source' : 'Workbook',
            })),
          },
        });
      }
      const job = /^\/jobs\/([^/]+)$/.exec(rest);
      if (req.method === 'GET' && job) {
        const j = jobs.find((x) => x.id === decodeURIComponent(job[1]));
        if (!j) return error(404, '404003', 'Resource Not Found', `Job '${job[1]}' could not be found.`);
        const pf = pollFailures.get(j.item.id);
        if (pf && pf.n > 0) {
          pf.n--;
          if (pf.status === 401)
            return error(401, '401002', 'Unauthorized Access', 'Invalid authentication credentials were provided.');
          return error(
            pf.status,
            `${pf.status}000`,
            'Internal Server Error',
            'The stand-in was told to fail this request',
          );
        }
        advance(j);
        return send(200, { job: jobJson(j) });
      }
      return error(404, '404000', 'Resource Not Found', `Unknown path ${path}`);
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    site,
    siteId,
    patName,
    patSecret,
    requests,
    jobs,
    tokensIssued,
    addItem(kind, name, o = {}) {
      const item: StandInItem = {
        kind,
        name,
        id: o.id ?? randomUUID(),
        project: o.project ?? 'Certified',
        hasExtract: o.hasExtract ?? true,
        forbidden: o.forbidden ?? false,
      };
      items.push(item);
      return item;
    },
    setOutcomes(item, codes) {
      outcomes.set(item.id, [...codes]);
    },
    startJob(item, o = {}) {
      const job = newJob(item, false);
      job.finishAfterPolls = o.finishAfterPolls;
      if (o.running) {
        job.polls = pollsQueued;
        job.startedAt = new Date().toISOString();
      }
      return job;
    },
    expireTokens() {
      for (const t of tokens.values()) t.live = false;
    },
    expireTokensAfter(n) {
      expireAfter = n;
    },
    rateLimitNext(n, o = {}) {
      rateLimits = {
        n,
        minutes: o.minutes ?? (o.retryAfterSeconds === undefined ? 1 : undefined),
        retryAfterSeconds: o.retryAfterSeconds,
        path: o.path,
      };
    },
    failNext(n, o = {}) {
      failures = { n, status: o.status ?? 503, path: o.path };
    },
    failJobPolls(item, n, status = 401) {
      pollFailures.set(item.id, { n, status });
    },
    refreshesOf(item) {
      return jobs.filter((j) => j.item === item && j.viaApi);
    },
    peakRunning: () => peak,
    resetPeak() {
      peak = unfinished();
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Tableau's filter syntax: `field:op:value` joined by commas; `in` takes `[a,b]`. */
function parseFilter(text: string): { field: string; op: string; values: string[] }[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '[') depth++;
    if (ch === ']') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur) parts.push(cur);
  return parts.map((p) => {
    const [field, op, ...rest] = p.split(':');
    const value = rest.join(':');
    const values = op === 'in' ? value.replace(/^\[|\]$/g, '').split(',') : [value];
    return { field, op, values };
  });
}
