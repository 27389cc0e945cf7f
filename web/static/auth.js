// Sign-in state of the console.
//
// Tokens live in this module's memory only: never in web storage, cookies,
// URLs or the DOM. A reload therefore signs the operator out.
//
// Access tokens are refreshed shortly before they expire and whenever the
// admin API answers 401. Refresh tokens rotate on every use (SPEC §2.1), so
// the newest one is always kept, and at most one refresh is in flight: every
// caller that needs a fresh token awaits the same promise, so two calls never
// present the same refresh token twice.

const CLIENT_ID = 'authd-console';
const SCOPE = 'authd:admin';
// Refresh this long before the access token expires.
const EARLY_MS = 30_000;

const tokenURL = new URL('../token', document.baseURI);
const revokeURL = new URL('../revoke', document.baseURI);

let session = null; // {access, refresh, expiresAt, username}
let inflight = null; // the refresh under way, if any
const endListeners = new Set();

// AuthError is a failure of the token endpoint, with its OAuth error code
// and a sentence fit for the operator.
export class AuthError extends Error {
  constructor(code, message, status) {
    super(message);
    this.name = 'AuthError';
    this.code = code;
    this.status = status;
  }
}

// onSessionEnd registers fn(message) to run when the server ends the
// session (its refresh token is revoked, expired or reused elsewhere).
export function onSessionEnd(fn) {
  endListeners.add(fn);
}

export function signedIn() {
  return session !== null;
}

export function username() {
  return session ? session.username : '';
}

// sentence turns a server's error_description ("invalid username or
// password") into a sentence for the page.
export function sentence(s) {
  const t = String(s).trim();
  if (!t) return t;
  const cap = t[0].toUpperCase() + t.slice(1);
  return /[.!?]$/.test(cap) ? cap : `${cap}.`;
}

function describe(res, body) {
  if (res.status === 429 || res.status === 503) {
    const wait = Number.parseInt(res.headers.get('Retry-After') || '', 10);
    const base = res.status === 429 ? 'Too many attempts.' : 'The server is busy.';
    return Number.isFinite(wait) ? `${base} Try again in ${wait} seconds.` : `${base} Try again later.`;
  }
  if (body && body.error_description) return sentence(body.error_description);
  if (body && body.error) return `The server refused the request (${body.error}).`;
  return `The server answered ${res.status} ${res.statusText}.`;
}

async function post(url, params, keepalive = false) {
  let res;
  try {
    res = await fetch(url, {
      method: 'POST',
      body: new URLSearchParams(params),
      headers: { Accept: 'application/json' },
      credentials: 'omit',
      cache: 'no-store',
      keepalive,
    });
  } catch {
    throw new AuthError('network', 'The server could not be reached.', 0);
  }
  let body = null;
  try {
    body = await res.json();
  } catch {
    // An empty or non-JSON body: described by its status below.
  }
  if (!res.ok) throw new AuthError((body && body.error) || 'error', describe(res, body), res.status);
  return body;
}

// usernameOf reads preferred_username from the access token's claims, for
// display only: the console does not verify tokens; the server does.
function usernameOf(accessToken, fallback) {
  try {
    const b64 = accessToken.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return typeof claims.preferred_username === 'string' ? claims.preferred_username : fallback;
  } catch {
    return fallback;
  }
}

function accept(body, previous, name) {
  if (!body || typeof body.access_token !== 'string') {
    throw new AuthError('invalid_response', 'The token endpoint sent an unexpected answer.', 200);
  }
  const ttl = Number(body.expires_in) > 0 ? Number(body.expires_in) * 1000 : 60_000;
  session = {
    access: body.access_token,
    // A rotation always returns a new refresh token; keep the newest.
    refresh: typeof body.refresh_token === 'string' ? body.refresh_token : previous && previous.refresh,
    expiresAt: Date.now() + ttl,
    username: usernameOf(body.access_token, name),
  };
}

// login signs in with the password grant of the console's public client.
export async function login(name, password) {
  const body = await post(tokenURL, {
    grant_type: 'password',
    client_id: CLIENT_ID,
    scope: SCOPE,
    username: name,
    password,
  });
  const old = session;
  accept(body, null, name);
  inflight = null;
  if (old) revokeAll(old);
}

function end(message) {
  session = null;
  inflight = null;
  for (const fn of endListeners) fn(message);
}

// refresh exchanges the refresh token for new tokens. Concurrent callers
// share one request.
export function refresh() {
  if (!session) return Promise.reject(new AuthError('login_required', 'Please sign in.', 401));
  if (inflight) return inflight;
  const current = session;
  if (!current.refresh) {
    end('Your session has expired. Please sign in again.');
    return Promise.reject(new AuthError('login_required', 'Please sign in again.', 401));
  }
  const p = post(tokenURL, {
    grant_type: 'refresh_token',
    client_id: CLIENT_ID,
    refresh_token: current.refresh,
  }).then(
    (body) => {
      // Ignore the answer if the operator signed out or in meanwhile.
      if (session === current) accept(body, current, current.username);
    },
    (err) => {
      if (session === current && (err.code === 'invalid_grant' || err.code === 'invalid_client')) {
        end(`Your session has ended: ${err.message} Please sign in again.`);
      }
      throw err;
    },
  ).finally(() => {
    if (inflight === p) inflight = null;
  });
  inflight = p;
  return p;
}

// accessToken returns a valid access token, refreshing it first if it is
// about to expire.
export async function accessToken() {
  if (!session) throw new AuthError('login_required', 'Please sign in.', 401);
  if (inflight || Date.now() >= session.expiresAt - EARLY_MS) await refresh();
  if (!session) throw new AuthError('login_required', 'Please sign in.', 401);
  return session.access;
}

// authorizedFetch is fetch with the bearer access token. On 401 it refreshes
// once (unless another call already did) and retries: a 401 means the
// request was refused before it did anything, so a retry is safe.
export async function authorizedFetch(url, init = {}) {
  const send = (token) => fetch(url, {
    ...init,
    headers: { ...(init.headers || {}), Authorization: `Bearer ${token}` },
    credentials: 'omit',
    cache: 'no-store',
  });
  const token = await accessToken();
  const res = await send(token);
  if (res.status !== 401) return res;
  if (session && session.access === token) await refresh();
  return send(await accessToken());
}

function revoke(token, hint) {
  return post(revokeURL, { token, token_type_hint: hint, client_id: CLIENT_ID }, true);
}

function revokeAll(s) {
  const jobs = [revoke(s.access, 'access_token')];
  if (s.refresh) jobs.push(revoke(s.refresh, 'refresh_token'));
  return Promise.allSettled(jobs);
}

// logout forgets the tokens at once, then revokes them (RFC 7009): the
// refresh token with its whole family, the access token until it expires.
// It resolves to true when the server confirmed both.
export async function logout() {
  const s = session;
  session = null;
  inflight = null;
  if (!s) return true;
  const results = await revokeAll(s);
  return results.every((r) => r.status === 'fulfilled');
}

// A page that is unloaded for good takes its tokens with it; revoke them so
// that no live session is left behind. keepalive lets the requests finish.
window.addEventListener('pagehide', (event) => {
  if (event.persisted || !session) return;
  const s = session;
  session = null;
  revokeAll(s);
});
