// The admin API (SPEC §2.5) as the console uses it: JSON over /admin/api/
// with the bearer token of auth.js. Errors carry the server's
// error_description.

import { authorizedFetch, AuthError, sentence } from './auth.js';

const base = new URL('api/', document.baseURI);

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

// request sends one admin API call and returns the decoded answer, or null
// for 204 No Content. path is relative to /admin/api/ and already escaped.
export async function request(method, path, body) {
  const init = { method, headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await authorizedFetch(new URL(path, base), init);
  } catch (err) {
    if (err instanceof AuthError) throw err;
    throw new ApiError(0, 'network', 'The server could not be reached.');
  }
  if (res.status === 204) return null;
  let data = null;
  try {
    data = await res.json();
  } catch {
    // Described by the status below.
  }
  if (!res.ok) {
    const message = data && data.error_description
      ? sentence(data.error_description)
      : `The server answered ${res.status} ${res.statusText}.`;
    throw new ApiError(res.status, (data && data.error) || 'error', message);
  }
  return data;
}

export const seg = encodeURIComponent;

export const users = {
  list: () => request('GET', 'users'),
  create: (u) => request('POST', 'users', u),
  update: (name, change) => request('PATCH', `users/${seg(name)}`, change),
  remove: (name) => request('DELETE', `users/${seg(name)}`),
  endSessions: (name) => request('DELETE', `users/${seg(name)}/sessions`),
};

export const clients = {
  list: () => request('GET', 'clients'),
  create: (c) => request('POST', 'clients', c),
  remove: (id) => request('DELETE', `clients/${seg(id)}`),
};

export const sessions = {
  list: (user) => request('GET', user ? `sessions?user=${seg(user)}` : 'sessions'),
  revoke: (id) => request('DELETE', `sessions/${seg(id)}`),
};

export const consents = {
  list: (user) => request('GET', user ? `consents?user=${seg(user)}` : 'consents'),
  revoke: (user, client) => request('DELETE', `consents/${seg(user)}/${seg(client)}`),
};

export const keys = {
  list: () => request('GET', 'keys'),
  rotate: (whenSafe) => request('POST', 'keys/rotate', { when_safe: whenSafe }),
  revoke: (kid) => request('DELETE', `keys/${seg(kid)}`),
};

// metadata fetches the server's RFC 8414 metadata (no token needed).
export async function metadata() {
  const res = await fetch(new URL('../.well-known/oauth-authorization-server', document.baseURI), {
    headers: { Accept: 'application/json' },
    credentials: 'omit',
    cache: 'no-store',
  });
  if (!res.ok) throw new ApiError(res.status, 'error', `The server metadata answered ${res.status}.`);
  return res.json();
}
