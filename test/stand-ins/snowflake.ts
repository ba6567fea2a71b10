import { createHash, createPublicKey, randomBytes, randomUUID, timingSafeEqual, verify } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { normalizeName, SnowflakeCatalog } from './snowflake-sql/catalog';
import { holdAnalyzer } from './snowflake-sql/analyzer-server';
import { InformationSchemaAnswers } from './snowflake-sql/information-schema';
import { checkStatement, type AnalysisOut } from './snowflake-sql/statements';
import { SnowflakeExecution, type ExecutionOptions } from './snowflake-sql/execution';

/**
 * A stand-in for Snowflake's REST protocol as snowflake-sdk speaks it (JSON bodies, gzip-compressed
 * requests, `{ success, code, message, data }` envelopes, JSON result format):
 *
 *   POST /session/v1/login-request        key-pair (RS256 JWT in data.TOKEN) or password login
 *   POST /queries/v1/query-request        one statement; binds in `bindings`
 *   GET  /queries/<queryId>/result        result polling after code 333333 (query in progress)
 *   POST /session/token-request           session-token renewal with the master token (after 390112)
 *   POST /session?delete=true             logout
 *   POST /session/heartbeat               keep-alive
 *   POST /telemetry/send                  driver telemetry (recorded, ignored)
 *   POST /queries/v1/abort-request, /queries/<id>/abort-request, GET /monitoring/queries/<id>
 *
 * Every request but login must carry `Authorization: Snowflake Token="<session token>"` (renewal: the
 * master token). Statements are recorded with their binds and the session's QUERY_TAG; ALTER SESSION
 * SET/UNSET is interpreted to track session parameters. Results are programmable with `on()`.
 */

/** A user the stand-in accepts: a password, a public key (PEM, SPKI), or both. */
export interface StandInUser {
  name: string;
  password?: string;
  publicKeyPem?: string;
}

/** What the stand-in accepts. */
export interface SnowflakeStandInOptions {
  /** Account name as the driver sends it (the part before the first dot), compared case-insensitively. */
  account: string;
  users: StandInUser[];
  /**
   * Check every statement as Snowflake would (test/stand-ins/snowflake-sql/): analyzed by ZetaSQL's Snowflake
   * analyzer against the catalog below, or shape-checked; a refused statement gets Snowflake's error code.
   * Off only for tests of the driver protocol itself (login, renewal, bind encoding) with synthetic SQL.
   */
  analyze?: boolean;
  /**
   * Also execute every accepted statement (test/stand-ins/snowflake-sql/execution.ts) in an in-memory DuckDB,
   * so results are computed, not programmed; implies `analyze`. Programmed handlers still answer first.
   */
  execute?: ExecutionOptions;
}

/** A result column: a name and a Snowflake type as written in DDL, e.g. `NUMBER(12,2)`, `TIMESTAMP_NTZ(6)`. */
export interface StandInColumn {
  name: string;
  type: string;
  nullable?: boolean;
}

/** What a handler returns: rows, a Snowflake error, or a DML count. `inProgress` makes the driver poll that many times first. */
export type StandInResult = (
  | { columns: StandInColumn[]; rows: unknown[][] }
  | { error: { code: string; sqlState: string; message: string } }
  | { updated: number }
) & { inProgress?: number };

/** Decides the result of statements whose text matches; returning undefined defers to older handlers / the default. */
export type StandInHandler = (
  sql: string,
  binds: unknown[],
) => StandInResult | undefined | Promise<StandInResult | undefined>;

/** One statement as the server received it. */
export interface RecordedStatement {
  sqlText: string;
  /** Bind values decoded by type, in position order (`:1` is binds[0]). */
  binds: unknown[];
  /** Bind types as the driver sent them (FIXED, REAL, TEXT, BOOLEAN…). */
  bindTypes: string[];
  /** QUERY_TAG in effect for this statement (a statement-level parameter, else the session's); null when unset. */
  queryTag: string | null;
  sessionId: number;
  queryId: string;
  user: string;
  /** The error the stand-in answered with (Snowflake's code and message), when it refused the statement. */
  error?: { code: string; message: string };
}

/** One login attempt. */
export interface RecordedLogin {
  user: string;
  authenticator: string;
  ok: boolean;
  code?: string;
  /** Query parameters of the login URL (warehouse, databaseName, schemaName, roleName…). */
  query: Record<string, string>;
  sessionId?: number;
}

/** One HTTP request, with its decompressed body text, so tests can search it for things that must not be sent. */
export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: string;
  status: number;
  /** Snowflake code of the answer (`390112`, `333333`…), null on plain success. */
  code: string | null;
  /** Whether it carried a valid token for its endpoint (login needs none). */
  authorized: boolean;
}

/** Server-side state of one session. */
export interface StandInSession {
  id: number;
  user: string;
  role?: string;
  warehouse?: string;
  database?: string;
  schema?: string;
  /** Session parameters set at login or with ALTER SESSION (upper-case names, values as text). */
  parameters: Record<string, string>;
  closed: boolean;
}

/** A running stand-in. */
export interface SnowflakeStandIn {
  /** Base URL for the driver's `accessUrl` option. */
  url: string;
  /** Registers a handler for statements matching `pattern` (newest first); returns a function that removes it. */
  on(pattern: RegExp, handler: StandInHandler): () => void;
  statements: RecordedStatement[];
  logins: RecordedLogin[];
  requests: RecordedRequest[];
  sessions: Map<number, StandInSession>;
  /** The account's schemas, tables and views as the analyzed DDL left them (tests may define pre-existing ones). */
  catalog: SnowflakeCatalog;
  /** Reads the account's data directly (no Snowflake rules), for comparing tables; needs `execute`. */
  read(sql: string): Promise<Record<string, unknown>[]>;
  /** Makes every current session token expire: the next request gets 390112 and the driver must renew. */
  expireSessionTokens(): void;
  /** Stops listening. */
  close(): Promise<void>;
}

const SERVER_VERSION = '9.99.0';
const SESSION_VALIDITY = 3600;
const MASTER_VALIDITY = 14400;

/** Snowflake's defaults for the parameters the driver reads from every response. */
const DEFAULT_PARAMETERS: Record<string, string> = {
  TIMEZONE: 'America/Los_Angeles',
  TIMESTAMP_OUTPUT_FORMAT: 'YYYY-MM-DD HH24:MI:SS.FF3 TZHTZM',
  TIMESTAMP_NTZ_OUTPUT_FORMAT: 'YYYY-MM-DD HH24:MI:SS.FF3',
  TIMESTAMP_LTZ_OUTPUT_FORMAT: '',
  TIMESTAMP_TZ_OUTPUT_FORMAT: '',
  DATE_OUTPUT_FORMAT: 'YYYY-MM-DD',
  TIME_OUTPUT_FORMAT: 'HH24:MI:SS',
  BINARY_OUTPUT_FORMAT: 'HEX',
  CLIENT_SESSION_KEEP_ALIVE: 'false',
  CLIENT_SESSION_KEEP_ALIVE_HEARTBEAT_FREQUENCY: '3600',
};

type Envelope = { success: boolean; code: string | null; message: string | null; data: unknown; headers?: null };

const ok = (data: unknown, code: string | null = null, message: string | null = null): Envelope => ({
  success: true,
  code,
  message,
  data,
});
const fail = (code: string, message: string, data: unknown = null): Envelope => ({
  success: false,
  code,
  message,
  data,
  headers: null,
});

/** Starts the stand-in on 127.0.0.1 and a port the OS picks. */
export async function startSnowflakeStandIn(options: SnowflakeStandInOptions): Promise<SnowflakeStandIn> {
  const handlers: { pattern: RegExp; handler: StandInHandler }[] = [];
  const sessionTokens = new Map<string, number>();
  const masterTokens = new Map<string, number>();
  const expiredTokens = new Set<string>();
  const pending = new Map<string, { polls: number; envelope: Envelope; sessionId: number }>();
  let nextSessionId = 1_000_001;
  const analyze = options.analyze || !!options.execute;
  const execution = options.execute ? await SnowflakeExecution.create(options.execute) : undefined;
  /** The socket each session's last request came on: a killed client's sockets close (a detached session). */
  const sockets = new Map<number, Socket>();

  const stand: SnowflakeStandIn = {
    url: '',
    catalog: new SnowflakeCatalog(),
    on(pattern, handler) {
      const entry = { pattern, handler };
      handlers.unshift(entry);
      return () => {
        const at = handlers.indexOf(entry);
        if (at >= 0) handlers.splice(at, 1);
      };
    },
    statements: [],
    logins: [],
    requests: [],
    sessions: new Map(),
    read: (sql) => {
      if (!execution) throw new Error('stand-in: read() needs the execute option');
      return execution.read(sql);
    },
    expireSessionTokens() {
      for (const token of sessionTokens.keys()) expiredTokens.add(token);
    },
    close: async () => undefined,
  };

  const issueTokens = (sessionId: number) => {
    const token = `ST-${randomBytes(18).toString('base64url')}`;
    const master = `MT-${randomBytes(18).toString('base64url')}`;
    sessionTokens.set(token, sessionId);
    masterTokens.set(master, sessionId);
    return { token, master };
  };

  /** The session a request's Authorization header names, or the error envelope to answer with. */
  const authenticate = (
    req: IncomingMessage,
    tokens: Map<string, number>,
  ): StandInSession | { status: number; envelope: Envelope } => {
    const m = /^Snowflake Token="([^"]+)"$/.exec(req.headers.authorization ?? '');
    if (!m) return { status: 401, envelope: fail('390101', 'Authorization header not found in the request data.') };
    if (tokens === sessionTokens && expiredTokens.has(m[1]))
      return { status: 200, envelope: fail('390112', 'Your session has expired. Please login again.') };
    const session = stand.sessions.get(tokens.get(m[1]) ?? -1);
    if (!session || session.closed)
      return { status: 200, envelope: fail('390104', 'User must login again to access the service.') };
    return session;
  };

  const login = async (body: LoginBody, query: Record<string, string>, socket: Socket): Promise<Envelope> => {
    const data = body.data ?? {};
    const userName = String(data.LOGIN_NAME ?? '');
    const authenticator = String(data.AUTHENTICATOR ?? 'SNOWFLAKE').toUpperCase();
    const user = options.users.find((u) => u.name.toUpperCase() === userName.toUpperCase());
    const accountOk = String(data.ACCOUNT_NAME ?? '').toUpperCase() === options.account.toUpperCase();
    let failure: Envelope | undefined;
    if (authenticator === 'SNOWFLAKE_JWT') {
      const good =
        accountOk &&
        user?.publicKeyPem &&
        verifyJwt(String(data.TOKEN ?? ''), options.account, user.name, user.publicKeyPem);
      if (!good)
        failure = fail('390144', 'JWT token is invalid.', {
          nextAction: 'RETRY_LOGIN',
          authnMethod: 'KEY_PAIR',
          loginName: userName,
        });
    } else if (authenticator === 'SNOWFLAKE') {
      const good = accountOk && user?.password !== undefined && sameText(String(data.PASSWORD ?? ''), user.password);
      if (!good)
        failure = fail('390100', 'Incorrect username or password was specified.', {
          nextAction: 'RETRY_LOGIN',
          authnMethod: 'PASSWORD',
          loginName: userName,
        });
    } else {
      failure = fail('390190', `The authenticator ${authenticator} is not supported by this stand-in.`);
    }
    if (failure || !user) {
      stand.logins.push({ user: userName, authenticator, ok: false, code: failure?.code ?? undefined, query });
      return failure ?? fail('390100', 'Incorrect username or password was specified.');
    }
    const session: StandInSession = {
      id: nextSessionId++,
      user: user.name,
      role: query.roleName,
      warehouse: query.warehouse,
      database: query.databaseName,
      schema: query.schemaName,
      parameters: { ...DEFAULT_PARAMETERS },
      closed: false,
    };
    for (const [name, value] of Object.entries(data.SESSION_PARAMETERS ?? {}))
      session.parameters[name.toUpperCase()] = String(value);
    stand.sessions.set(session.id, session);
    sockets.set(session.id, socket);
    await execution?.openSession(session.id, () => !sockets.get(session.id)?.destroyed);
    stand.logins.push({ user: user.name, authenticator, ok: true, query, sessionId: session.id });
    const { token, master } = issueTokens(session.id);
    return ok({
      masterToken: master,
      token,
      validityInSeconds: SESSION_VALIDITY,
      masterValidityInSeconds: MASTER_VALIDITY,
      displayUserName: user.name,
      serverVersion: SERVER_VERSION,
      firstLogin: false,
      remMeToken: null,
      remMeValidityInSeconds: 0,
      healthCheckInterval: 45,
      newClientForUpgrade: null,
      sessionId: session.id,
      parameters: parameterList(session),
      sessionInfo: {
        databaseName: session.database ?? null,
        schemaName: session.schema ?? null,
        warehouseName: session.warehouse ?? null,
        roleName: session.role ?? 'PUBLIC',
      },
      idToken: null,
      idTokenValidityInSeconds: 0,
      responseData: null,
      mfaToken: null,
      mfaTokenValidityInSeconds: 0,
    });
  };

  const informationSchema = new InformationSchemaAnswers();
  const runStatement = async (session: StandInSession, body: QueryBody): Promise<Envelope> => {
    const sqlText = String(body.sqlText ?? '');
    const positions = Object.keys(body.bindings ?? {})
      .map(Number)
      .sort((a, b) => a - b);
    const bindings = positions.map((p) => (body.bindings ?? {})[String(p)]);
    const binds = bindings.map(decodeBind);
    const queryId = randomUUID();
    const statementTag = body.parameters?.QUERY_TAG;
    stand.statements.push({
      sqlText,
      binds,
      bindTypes: bindings.map((b) => b.type),
      queryTag: statementTag !== undefined ? String(statementTag) : (session.parameters.QUERY_TAG ?? null),
      sessionId: session.id,
      queryId,
      user: session.user,
    });
    const analysis: AnalysisOut = {};
    let result: StandInResult | undefined = analyze
      ? await checkStatement(
          stand.catalog,
          sqlText,
          analysis,
          bindings.map((b) => b.type),
        ).then((error) => (error ? { error } : undefined))
      : undefined;
    for (const { pattern, handler } of result ? [] : [...handlers]) {
      pattern.lastIndex = 0;
      if (!pattern.test(sqlText)) continue;
      result = await handler(sqlText, binds);
      if (result) break;
    }
    // Nobody programmed it: catalog queries are answered from the catalog the analyzed DDL built, other
    // queries as Snowflake would over empty tables (a scalar aggregate still has its one row).
    if (!result && analyze) result = await informationSchema.answer(stand.catalog, sqlText, binds);
    if (!result && execution) {
      try {
        result = await execution.execute(session.id, sqlText, binds, analysis.emptyAnswer?.columns);
        if (analysis.created) await refineFixedPoint(stand.catalog, execution, analysis.created);
      } catch (err) {
        // The analyzer accepted it but the stand-in could not compute it: say so, never answer made-up rows.
        result = {
          error: {
            code: '000603',
            sqlState: 'XX000',
            message: `stand-in could not execute: ${(err as Error).message}`,
          },
        };
      }
    } else if (!result && analyze) result = analysis.emptyAnswer;
    if (result && 'error' in result) {
      const { code, sqlState, message } = result.error;
      stand.statements[stand.statements.length - 1].error = { code, message };
      return fail(code, message, {
        internalError: false,
        errorCode: code,
        age: 0,
        sqlState,
        queryId,
        line: -1,
        pos: -1,
        type: 'COMPILATION',
      });
    }
    const alter = parseAlterSession(sqlText);
    if (alter) {
      for (const [name, value] of Object.entries(alter.set)) session.parameters[name] = value;
      for (const name of alter.unset) delete session.parameters[name];
    }
    const kind = statementKind(sqlText);
    const shaped = result ?? defaultResult(kind);
    const table = 'updated' in shaped ? dmlResult(kind, shaped.updated) : shaped;
    const envelope = ok(resultData(session, queryId, kind, table, positions.length));
    if (result?.inProgress) {
      pending.set(queryId, { polls: result.inProgress - 1, envelope, sessionId: session.id });
      return inProgress(queryId);
    }
    return envelope;
  };

  const route = async (
    req: IncomingMessage,
    url: URL,
    body: unknown,
  ): Promise<{ status: number; envelope: Envelope; authorized: boolean }> => {
    const path = url.pathname;
    const query = Object.fromEntries(url.searchParams);
    if (req.method === 'POST' && path === '/session/v1/login-request') {
      return { status: 200, envelope: await login(body as LoginBody, query, req.socket), authorized: true };
    }
    if (req.method === 'POST' && path === '/session/token-request') {
      const auth = authenticate(req, masterTokens);
      if (!('id' in auth)) return { ...auth, authorized: false };
      const old = String((body as { oldSessionToken?: string })?.oldSessionToken ?? '');
      sessionTokens.delete(old);
      expiredTokens.delete(old);
      for (const [t, id] of masterTokens) if (id === auth.id) masterTokens.delete(t);
      const { token, master } = issueTokens(auth.id);
      return {
        status: 200,
        envelope: ok({
          sessionToken: token,
          validityInSecondsST: SESSION_VALIDITY,
          masterToken: master,
          validityInSecondsMT: MASTER_VALIDITY,
          sessionId: auth.id,
        }),
        authorized: true,
      };
    }
    const auth = authenticate(req, sessionTokens);
    if (!('id' in auth)) return { ...auth, authorized: false };
    const session = auth;
    sockets.set(session.id, req.socket);
    const done = (envelope: Envelope) => ({ status: 200, envelope, authorized: true });
    if (req.method === 'POST' && path === '/queries/v1/query-request')
      return done(await runStatement(session, (body ?? {}) as QueryBody));
    const resultPath = /^\/queries\/([0-9a-f-]+)\/result$/.exec(path);
    if (req.method === 'GET' && resultPath) {
      const entry = pending.get(resultPath[1]);
      if (!entry || entry.sessionId !== session.id) return done(fail('000709', `Statement ${resultPath[1]} not found`));
      if (entry.polls > 0) {
        entry.polls -= 1;
        return done(inProgress(resultPath[1]));
      }
      pending.delete(resultPath[1]);
      return done(entry.envelope);
    }
    if (req.method === 'POST' && path === '/session' && url.searchParams.get('delete') === 'true') {
      session.closed = true;
      for (const [t, id] of sessionTokens) if (id === session.id) sessionTokens.delete(t);
      await execution?.endSession(session.id);
      return done(ok(null));
    }
    if (req.method === 'POST' && path === '/session/heartbeat') return done(ok(null));
    if (req.method === 'POST' && path === '/telemetry/send') return done(ok('Telemetry data successfully received'));
    if (req.method === 'POST' && /^\/queries\/(v1|[0-9a-f-]+)\/abort-request$/.test(path)) return done(ok(null));
    const monitoring = /^\/monitoring\/queries\/([0-9a-f-]+)$/.exec(path);
    if (req.method === 'GET' && monitoring) {
      const status = pending.has(monitoring[1]) ? 'RUNNING' : 'SUCCESS';
      return done(ok({ queries: [{ id: monitoring[1], status }] }));
    }
    return { status: 404, envelope: fail('404', `stand-in: no route for ${req.method} ${path}`), authorized: true };
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const url = new URL(req.url ?? '/', 'http://stand-in');
        const text = decodeBody(Buffer.concat(chunks));
        const record: RecordedRequest = {
          method: req.method ?? '',
          path: url.pathname,
          query: Object.fromEntries(url.searchParams),
          body: text,
          status: 0,
          code: null,
          authorized: false,
        };
        stand.requests.push(record);
        let answer: { status: number; envelope: Envelope; authorized: boolean };
        try {
          answer = await route(req, url, text ? JSON.parse(text) : undefined);
        } catch (err) {
          answer = {
            status: 500,
            envelope: fail('000001', `stand-in failure: ${(err as Error).message}`),
            authorized: record.authorized,
          };
        }
        record.status = answer.status;
        record.code = answer.envelope.code;
        record.authorized = answer.authorized;
        res.writeHead(answer.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer.envelope));
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stand.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const release = analyze ? holdAnalyzer() : () => undefined;
  stand.close = () =>
    new Promise<void>((resolve, reject) => {
      release();
      informationSchema.close();
      void execution?.close();
      server.closeAllConnections();
      server.close((err) => (err ? reject(err) : resolve()));
    });
  return stand;
}

interface LoginBody {
  data?: {
    ACCOUNT_NAME?: string;
    LOGIN_NAME?: string;
    AUTHENTICATOR?: string;
    PASSWORD?: string;
    TOKEN?: string;
    SESSION_PARAMETERS?: Record<string, unknown>;
  };
}

interface QueryBody {
  sqlText?: string;
  bindings?: Record<string, { type: string; value: string | null | (string | null)[] }>;
  parameters?: Record<string, unknown>;
}

/** The driver gzips request bodies, but sets the header from an async callback, so both forms arrive. */
function decodeBody(raw: Buffer): string {
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) return gunzipSync(raw).toString('utf8');
  return raw.toString('utf8');
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Key-pair JWT as Snowflake documents it: RS256, iss `<ACCOUNT>.<USER>.SHA256:<base64 sha256 of the
 * public key's DER SPKI>`, sub `<ACCOUNT>.<USER>`, unexpired. snowflake-sdk writes iat/exp in
 * milliseconds (other drivers use seconds), so both are accepted.
 */
function verifyJwt(token: string, account: string, user: string, publicKeyPem: string): boolean {
  const parts = token.split('.');
  if (parts.length !== 3) return false;
  try {
    const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')) as { alg?: string };
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as {
      iss?: string;
      sub?: string;
      exp?: number;
    };
    if (header.alg !== 'RS256') return false;
    const key = createPublicKey(publicKeyPem);
    const fingerprint = createHash('sha256')
      .update(key.export({ type: 'spki', format: 'der' }))
      .digest('base64');
    const subject = `${account.toUpperCase()}.${user.toUpperCase()}`;
    if (claims.iss !== `${subject}.SHA256:${fingerprint}` || claims.sub !== subject) return false;
    const expMs = typeof claims.exp === 'number' ? (claims.exp > 1e11 ? claims.exp : claims.exp * 1000) : 0;
    if (expMs < Date.now()) return false;
    return verify('RSA-SHA256', Buffer.from(`${parts[0]}.${parts[1]}`), key, Buffer.from(parts[2], 'base64url'));
  } catch {
    return false;
  }
}

function decodeBind(bind: { type: string; value: unknown }): unknown {
  const { type, value } = bind;
  if (value === null || Array.isArray(value)) return value;
  switch (type) {
    case 'FIXED':
    case 'REAL':
      return Number(value);
    case 'BOOLEAN':
      return String(value).toLowerCase() === 'true';
    default:
      return value;
  }
}

function parameterList(session: StandInSession): { name: string; value: unknown }[] {
  const keep = new Set([...Object.keys(DEFAULT_PARAMETERS), 'QUERY_TAG', 'STATEMENT_TIMEOUT_IN_SECONDS']);
  return Object.entries(session.parameters)
    .filter(([name]) => keep.has(name))
    .map(([name, value]) => ({ name, value: typedParameter(name, value) }));
}

/** Parameters travel as JSON booleans/numbers where Snowflake types them so; everything else as text. */
function typedParameter(name: string, value: string): unknown {
  if (name === 'CLIENT_SESSION_KEEP_ALIVE') return value.toLowerCase() === 'true';
  if (name.endsWith('_FREQUENCY') || name === 'STATEMENT_TIMEOUT_IN_SECONDS') return Number(value);
  return value;
}

function inProgress(queryId: string): Envelope {
  return ok(
    { queryId, getResultUrl: `/queries/${queryId}/result`, queryAbortsAfterSecs: 300, progressDesc: null },
    '333333',
    'Asynchronous execution in progress. Use provided query id to perform query monitoring and management.',
  );
}

// ---------------------------------------------------------------------------------------------------
// Statements: kind, default results, result encoding
// ---------------------------------------------------------------------------------------------------

type Kind = 'select' | 'insert' | 'update' | 'delete' | 'merge' | 'copy' | 'session' | 'transaction' | 'ddl';

/** Snowflake statementTypeId families: the driver counts updated rows only for 0x3100–0x3500. */
const STATEMENT_TYPE: Record<Kind, number> = {
  select: 0x1000,
  insert: 0x3100,
  update: 0x3200,
  delete: 0x3300,
  merge: 0x3400,
  copy: 0x3000,
  session: 0x4000,
  transaction: 0x5000,
  ddl: 0x6000,
};

function statementKind(sql: string): Kind {
  const text = sql
    .replace(/\/\*[\s\S]*?\*\/|--[^\n]*|\/\/[^\n]*/g, ' ')
    .trim()
    .replace(/^\(+\s*/, '');
  const word = (/^[A-Za-z]+/.exec(text)?.[0] ?? '').toUpperCase();
  if (['SELECT', 'WITH', 'SHOW', 'DESC', 'DESCRIBE', 'VALUES', 'LIST', 'LS', 'EXPLAIN', 'CALL'].includes(word))
    return 'select';
  if (word === 'INSERT') return 'insert';
  if (word === 'UPDATE') return 'update';
  if (word === 'DELETE') return 'delete';
  if (word === 'MERGE') return 'merge';
  if (word === 'COPY') return 'copy';
  if (word === 'USE' || /^ALTER\s+SESSION\b/i.test(text)) return 'session';
  if (['BEGIN', 'START', 'COMMIT', 'ROLLBACK'].includes(word)) return 'transaction';
  return 'ddl';
}

type Table = { columns: StandInColumn[]; rows: unknown[][] };

const DML_COLUMNS: Partial<Record<Kind, string[]>> = {
  insert: ['number of rows inserted'],
  update: ['number of rows updated', 'number of multi-joined rows updated'],
  delete: ['number of rows deleted'],
  merge: ['number of rows inserted', 'number of rows updated', 'number of rows deleted'],
};

/** What Snowflake returns for a statement nobody programmed: DML counts of 0, a status line, or no rows. */
function defaultResult(kind: Kind): Table | { updated: number } {
  if (DML_COLUMNS[kind]) return { updated: 0 };
  if (kind === 'select') return { columns: [], rows: [] };
  if (kind === 'copy')
    return { columns: [{ name: 'status', type: 'VARCHAR' }], rows: [['Copy executed with 0 files processed.']] };
  return { columns: [{ name: 'status', type: 'VARCHAR' }], rows: [['Statement executed successfully.']] };
}

/** The one-row count result Snowflake gives DML; `updated` goes in the first count column. */
function dmlResult(kind: Kind, updated: number): Table {
  const names = DML_COLUMNS[kind] ?? DML_COLUMNS.insert ?? [];
  return {
    columns: names.map((name) => ({ name, type: 'NUMBER(38,0)' })),
    rows: [names.map((_, i) => (i === 0 ? updated : 0))],
  };
}

function resultData(session: StandInSession, queryId: string, kind: Kind, table: Table, numberOfBinds: number) {
  const types = table.columns.map(parseType);
  const dml = table.columns.length > 0 && table.columns[0].name.startsWith('number of rows');
  return {
    parameters: parameterList(session),
    rowtype: table.columns.map((c, i) => ({
      name: c.name,
      database: '',
      schema: '',
      table: '',
      nullable: c.nullable ?? true,
      collation: null,
      byteLength: types[i].type === 'text' ? 16777216 : null,
      length: types[i].type === 'text' ? 16777216 : null,
      type: types[i].type,
      precision: types[i].precision,
      scale: types[i].scale,
    })),
    rowset: table.rows.map((row) => row.map((v, i) => encodeValue(v, types[i]))),
    total: table.rows.length,
    returned: table.rows.length,
    queryId,
    databaseProvider: null,
    finalDatabaseName: session.database ?? null,
    finalSchemaName: session.schema ?? null,
    finalWarehouseName: session.warehouse ?? null,
    finalRoleName: session.role ?? 'PUBLIC',
    numberOfBinds,
    arrayBindSupported: false,
    statementTypeId: dml ? STATEMENT_TYPE[DML_COLUMNS[kind] ? kind : 'insert'] : STATEMENT_TYPE[kind],
    version: 1,
    sendResultTime: Date.now(),
    queryResultFormat: 'json',
  };
}

interface WireType {
  type: string;
  precision: number | null;
  scale: number | null;
}

/** A DDL type name (`NUMBER(12,2)`, `TIMESTAMP_LTZ(3)`, `VARCHAR`…) as the rowtype's type/precision/scale. */
function parseType(column: StandInColumn): WireType {
  const m = /^\s*([A-Za-z_0-9]+)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*$/.exec(column.type);
  if (!m) throw new Error(`stand-in: cannot parse column type '${column.type}' of ${column.name}`);
  const base = m[1].toUpperCase();
  const a = m[2] === undefined ? undefined : Number(m[2]);
  const b = m[3] === undefined ? undefined : Number(m[3]);
  if (['NUMBER', 'DECIMAL', 'NUMERIC'].includes(base)) return { type: 'fixed', precision: a ?? 38, scale: b ?? 0 };
  if (['INT', 'INTEGER', 'BIGINT', 'SMALLINT', 'TINYINT', 'BYTEINT'].includes(base))
    return { type: 'fixed', precision: 38, scale: 0 };
  if (['FLOAT', 'FLOAT4', 'FLOAT8', 'DOUBLE', 'REAL'].includes(base))
    return { type: 'real', precision: null, scale: null };
  if (['VARCHAR', 'STRING', 'TEXT', 'CHAR', 'CHARACTER'].includes(base))
    return { type: 'text', precision: null, scale: null };
  if (base === 'BOOLEAN') return { type: 'boolean', precision: null, scale: null };
  if (base === 'DATE') return { type: 'date', precision: null, scale: null };
  if (base === 'TIME') return { type: 'time', precision: 0, scale: a ?? 9 };
  if (['TIMESTAMP_NTZ', 'TIMESTAMP', 'DATETIME'].includes(base))
    return { type: 'timestamp_ntz', precision: 0, scale: a ?? 9 };
  if (base === 'TIMESTAMP_LTZ') return { type: 'timestamp_ltz', precision: 0, scale: a ?? 9 };
  if (base === 'TIMESTAMP_TZ') return { type: 'timestamp_tz', precision: 0, scale: a ?? 9 };
  if (['VARIANT', 'OBJECT', 'ARRAY'].includes(base)) return { type: base.toLowerCase(), precision: null, scale: null };
  if (['BINARY', 'VARBINARY'].includes(base)) return { type: 'binary', precision: null, scale: null };
  throw new Error(`stand-in: unsupported column type '${column.type}' of ${column.name}`);
}

/** A JS value as the JSON result format carries it: text, numbers as decimals, times as epoch decimals. */
function encodeValue(value: unknown, t: WireType): string | null {
  if (value === null || value === undefined) return null;
  switch (t.type) {
    case 'fixed':
      return typeof value === 'number' && (t.scale ?? 0) > 0 ? value.toFixed(t.scale ?? 0) : String(value);
    case 'real':
      return String(value);
    case 'boolean':
      return value === true || value === 'true' || value === 1 ? '1' : '0';
    case 'date': {
      const { seconds } = parseDateTime(
        value instanceof Date ? value.toISOString() : `${String(value).slice(0, 10)}T00:00:00`,
      );
      return String(Number(seconds / 86400n));
    }
    case 'time': {
      const m = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$/.exec(String(value));
      if (!m) throw new Error(`stand-in: TIME value '${String(value)}' is not HH:MM:SS[.f]`);
      return decimal(BigInt(Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3])), m[4] ?? '', t.scale ?? 9);
    }
    case 'timestamp_ntz':
    case 'timestamp_ltz':
    case 'timestamp_tz': {
      const text = value instanceof Date ? value.toISOString() : String(value);
      const { seconds, fraction, offsetMinutes } = parseDateTime(text, t.type !== 'timestamp_ntz');
      const epoch = decimal(seconds, fraction, t.scale ?? 9);
      // Result version 1 appends the zone as minutes east of UTC plus 1440.
      return t.type === 'timestamp_tz' ? `${epoch} ${offsetMinutes + 1440}` : epoch;
    }
    case 'binary':
      return Buffer.isBuffer(value) ? value.toString('hex').toUpperCase() : String(value);
    case 'text':
      return typeof value === 'object' ? JSON.stringify(value) : String(value);
    default:
      return typeof value === 'string' ? value : JSON.stringify(value);
  }
}

/** Epoch seconds of an ISO-ish date-time (zone honoured when `zoned`, else read as wall-clock UTC), its fraction digits and zone. */
function parseDateTime(text: string, zoned = false): { seconds: bigint; fraction: string; offsetMinutes: number } {
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?\s*(Z|[+-]\d{2}:?\d{2})?$/.exec(
    text.trim(),
  );
  if (!m) throw new Error(`stand-in: '${text}' is not an ISO date-time`);
  const wall = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) / 1000;
  let offsetMinutes = 0;
  if (m[8] && m[8] !== 'Z') {
    const z = /^([+-])(\d{2}):?(\d{2})$/.exec(m[8]);
    if (z) offsetMinutes = (z[1] === '-' ? -1 : 1) * (Number(z[2]) * 60 + Number(z[3]));
  }
  return { seconds: BigInt(zoned ? wall - offsetMinutes * 60 : wall), fraction: m[7] ?? '', offsetMinutes };
}

/** `seconds + 0.fraction` as a decimal with exactly `scale` fraction digits (exact, also before 1970). */
function decimal(seconds: bigint, fraction: string, scale: number): string {
  const units = seconds * 10n ** BigInt(scale) + BigInt(fraction.padEnd(9, '0').slice(0, scale) || '0');
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(scale + 1, '0');
  const text = scale > 0 ? `${digits.slice(0, -scale)}.${digits.slice(-scale)}` : digits;
  return negative ? `-${text}` : text;
}

// ---------------------------------------------------------------------------------------------------
// ALTER SESSION
// ---------------------------------------------------------------------------------------------------

/** `ALTER SESSION SET a = v [,] b = w …` / `ALTER SESSION UNSET a [, b]`, values as text (string literals unescaped). */
export function parseAlterSession(sql: string): { set: Record<string, string>; unset: string[] } | undefined {
  const m = /^\s*ALTER\s+SESSION\s+(SET|UNSET)\s+([\s\S]*?)\s*;?\s*$/i.exec(sql);
  if (!m) return undefined;
  const out = { set: {} as Record<string, string>, unset: [] as string[] };
  const s = m[2];
  let i = 0;
  const skip = () => {
    while (i < s.length && /[\s,]/.test(s[i])) i++;
  };
  while (true) {
    skip();
    const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(s.slice(i))?.[0];
    if (!name) break;
    i += name.length;
    if (m[1].toUpperCase() === 'UNSET') {
      out.unset.push(name.toUpperCase());
      continue;
    }
    while (i < s.length && /\s/.test(s[i])) i++;
    if (s[i] !== '=') break;
    i++;
    while (i < s.length && /\s/.test(s[i])) i++;
    let value = '';
    if (s[i] === "'") {
      i++;
      while (i < s.length) {
        const c = s[i];
        if (c === '\\' && i + 1 < s.length) {
          const e = s[i + 1];
          value += e === 'n' ? '\n' : e === 't' ? '\t' : e === 'r' ? '\r' : e === '0' ? '\0' : e;
          i += 2;
        } else if (c === "'" && s[i + 1] === "'") {
          value += "'";
          i += 2;
        } else if (c === "'") {
          i++;
          break;
        } else {
          value += c;
          i++;
        }
      }
    } else if (s.startsWith('$$', i)) {
      const end = s.indexOf('$$', i + 2);
      value = s.slice(i + 2, end < 0 ? s.length : end);
      i = end < 0 ? s.length : end + 2;
    } else {
      value = /^[^\s,]*/.exec(s.slice(i))?.[0] ?? '';
      i += value.length;
    }
    out.set[name.toUpperCase()] = value;
  }
  return out;
}

/** After a CTAS or view ran: its NUMERIC columns get the precision and scale the executed table has. */
async function refineFixedPoint(
  catalog: SnowflakeCatalog,
  execution: SnowflakeExecution,
  created: { schema: string; name: string },
) {
  const relation = catalog.get(created.schema, created.name);
  if (!relation || !relation.columns.some((c) => c.type === 'NUMBER(38,10)')) return;
  const exact = await execution.fixedPointTypes(normalizeName(created.schema), normalizeName(created.name));
  catalog.define(created.schema, created.name, {
    ...relation,
    columns: relation.columns.map((c) =>
      c.type === 'NUMBER(38,10)' ? { ...c, type: exact.get(c.name.toUpperCase()) ?? c.type } : c,
    ),
  });
}
