// Sign-in state of the console.
//
// The console signs in with the authorization code flow and PKCE (RFC 6749
// §4.1, RFC 7636 S256) as the built-in public client authd-console, whose
// redirect URI is ISSUER/admin/: beginLogin sends the browser to authd's
// sign-in page, and completeLogin exchanges the code the browser comes back
// with. The PKCE verifier and the state are the only things kept in
// sessionStorage, and only across that one redirect: completeLogin removes
// them before it does anything else, and the code leaves the address bar
// at once.
//
// Tokens live in this module's memory only: never in web storage, cookies,
// URLs or the DOM. A reload therefore needs a new sign-in, which the
// browser's authd sign-in session answers without a password while it
// lasts.
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
const authorizeURL = new URL('../authorize', document.baseURI);
const logoutURL = new URL('../logout', document.baseURI);
// PENDING is the sessionStorage key of the sign-in under way.
const PENDING = 'authd-console-signin';

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

function base64url(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomString(n) {
  return base64url(crypto.getRandomValues(new Uint8Array(n)));
}

// redirectURI is the console's registered redirect URI: the issuer's
// /admin/ (server.ConsoleRedirectURI).
export function redirectURI(issuer) {
  return `${String(issuer).replace(/\/$/, '')}/admin/`;
}

// beginLogin sends the browser to authd's authorization endpoint with a
// fresh PKCE verifier's S256 challenge and a fresh state, kept in
// sessionStorage for completeLogin. view is the console tab to come back
// to. It does not return: the page is left.
export async function beginLogin(issuer, view) {
  const redirect = redirectURI(issuer);
  if (new URL(redirect).origin !== location.origin) {
    // The code can only come back to the issuer's own console.
    location.assign(redirect);
    return;
  }
  const verifier = randomString(32);
  const state = randomString(16);
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, view: view || '' }));
  const u = new URL(authorizeURL);
  u.search = new URLSearchParams({
    response_type: 'code',
    client_id: CLIENT_ID,
    redirect_uri: redirect,
    scope: SCOPE,
    state,
    code_challenge: base64url(new Uint8Array(digest)),
    code_challenge_method: 'S256',
  }).toString();
  location.assign(u.href);
}

// takePending returns the sign-in under way and forgets it.
function takePending() {
  const raw = sessionStorage.getItem(PENDING);
  sessionStorage.removeItem(PENDING);
  try {
    const p = JSON.parse(raw);
    return p && typeof p.verifier === 'string' && typeof p.state === 'string' ? p : null;
  } catch {
    return null;
  }
}

// completeLogin finishes a sign-in if the page is the authorization
// response (RFC 6749 §4.1.2): it removes the response from the address bar
// and the pending sign-in from sessionStorage at once, checks state and
// iss (RFC 9207), and exchanges the code at the token endpoint. It returns
// null when the page is no authorization response, else {view} of the
// sign-in, and throws an AuthError when the sign-in failed.
export async function completeLogin(issuer) {
  const params = new URLSearchParams(location.search);
  if (!params.has('code') && !params.has('error')) {
    // A sign-in abandoned on authd's page leaves nothing behind.
    sessionStorage.removeItem(PENDING);
    return null;
  }
  history.replaceState(null, '', location.pathname + location.hash);
  const pending = takePending();
  if (!pending || params.get('state') !== pending.state) {
    throw new AuthError('invalid_state', 'The sign-in answer does not belong to a sign-in of this console. Please sign in again.', 0);
  }
  if (params.has('iss') && params.get('iss') !== issuer) {
    throw new AuthError('invalid_issuer', 'The sign-in answer comes from another server. Please sign in again.', 0);
  }
  if (params.has('error')) {
    const desc = params.get('error_description');
    const message = params.get('error') === 'access_denied'
      ? 'The sign-in was cancelled.'
      : desc ? sentence(desc) : `The sign-in failed (${params.get('error')}).`;
    throw new AuthError(params.get('error'), message, 0);
  }
  const body = await post(tokenURL, {
    grant_type: 'authorization_code',
    client_id: CLIENT_ID,
    code: params.get('code'),
    redirect_uri: redirectURI(issuer),
    code_verifier: pending.verifier,
  });
  const old = session;
  accept(body, null, '');
  inflight = null;
  if (old) revokeAll(old);
  return { view: pending.view };
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

// endSignIn ends the browser's authd sign-in session (SPEC 2.7 /logout),
// so that the next sign-in asks for the password again.
async function endSignIn() {
  const res = await fetch(logoutURL, {
    method: 'POST',
    credentials: 'same-origin',
    cache: 'no-store',
    redirect: 'manual',
  });
  if (!res.ok) throw new AuthError('logout_failed', 'The sign-in session could not be ended.', res.status);
}

// logout forgets the tokens at once, then revokes them (RFC 7009): the
// refresh token with its whole family, the access token until it expires;
// and it ends the browser's sign-in session. It resolves to true when the
// server confirmed all of it.
export async function logout() {
  const s = session;
  session = null;
  inflight = null;
  const jobs = [endSignIn()];
  if (s) jobs.push(revokeAll(s).then((rs) => {
    if (!rs.every((r) => r.status === 'fulfilled')) throw new Error('revocation failed');
  }));
  const results = await Promise.allSettled(jobs);
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
