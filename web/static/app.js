// The console's entry point: sign-in, the status header and the tabs.

import * as auth from './auth.js';
import * as api from './api.js';
import { $, showError, clearNotices } from './ui.js';
import * as users from './users.js';
import * as clients from './clients.js';
import * as sessions from './sessions.js';
import * as consents from './consents.js';
import * as keys from './keys.js';

const views = { users, clients, sessions, consents, keys };

function currentView() {
  const name = location.hash.slice(1);
  return Object.hasOwn(views, name) ? name : 'users';
}

// show displays the tab named by the URL fragment and loads its data. With
// focus, the tab's heading takes the focus (for keyboard and screen reader
// users who just followed a tab link).
function show(focus) {
  if (!auth.signedIn()) return;
  const name = currentView();
  clearNotices();
  for (const v of Object.keys(views)) $(`#${v}`).hidden = v !== name;
  for (const a of document.querySelectorAll('.tabs a')) {
    if (a.dataset.view === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (focus) $(`#${name}-title`).focus();
  load(name);
}

// load fetches the data of a tab. The section's data-state (loading, ready,
// error) and aria-busy tell assistive technology, styles and tests where it
// stands.
async function load(name) {
  const section = $(`#${name}`);
  section.dataset.state = 'loading';
  section.setAttribute('aria-busy', 'true');
  try {
    await views[name].load();
    section.dataset.state = 'ready';
  } catch (err) {
    section.dataset.state = 'error';
    if (auth.signedIn()) showError(err.message);
  } finally {
    section.removeAttribute('aria-busy');
  }
}

// issuer is the server's issuer, from its metadata; until that is known,
// the one the console's own address implies (it is served at
// ISSUER/admin/).
let issuer = new URL('..', document.baseURI).href.replace(/\/$/, '');

function showLogin(message, error) {
  $('#app-view').hidden = true;
  $('#who').hidden = true;
  $('#login-view').hidden = false;
  $('#login-message').textContent = message || '';
  $('#login-error').textContent = error || '';
  $('#login-form button[type=submit]').disabled = false;
  $('#login-form button[type=submit]').focus();
}

function showApp() {
  $('#login-view').hidden = true;
  $('#login-message').textContent = '';
  $('#who-name').textContent = auth.username();
  $('#who').hidden = false;
  $('#app-view').hidden = false;
  show(false);
  $(`#${currentView()}-title`).focus();
}

// onLogin leaves for authd's sign-in page (the authorization code flow);
// the browser comes back to this page with a code.
async function onLogin(event) {
  event.preventDefault();
  const button = $('button[type=submit]', event.currentTarget);
  $('#login-error').textContent = '';
  button.disabled = true;
  try {
    await auth.beginLogin(issuer, location.hash.slice(1));
  } catch (err) {
    $('#login-error').textContent = `The sign-in could not start: ${err.message}`;
    button.disabled = false;
  }
}

async function onLogout() {
  const confirmed = await auth.logout();
  showLogin(confirmed
    ? 'You are signed out.'
    : 'You are signed out here, but the server could not be told; the session stays valid until it expires.');
}

async function loadIssuer() {
  try {
    const md = await api.metadata();
    if (typeof md.issuer === 'string' && md.issuer) issuer = md.issuer;
    $('#issuer-value').textContent = md.issuer;
    $('#issuer').hidden = false;
  } catch {
    // The header simply shows no issuer.
  }
}

// start finishes a sign-in if the page is the answer to one, and shows the
// console or the sign-in view.
async function start() {
  $('#login-view').hidden = false;
  $('#login-message').textContent = new URLSearchParams(location.search).has('code') ? 'Signing in…' : '';
  $('#login-form button[type=submit]').disabled = true;
  await loadIssuer();
  let done;
  try {
    done = await auth.completeLogin(issuer);
  } catch (err) {
    showLogin('', err.message);
    return;
  }
  if (!done) {
    showLogin('');
    return;
  }
  if (done.view && Object.hasOwn(views, done.view)) history.replaceState(null, '', `#${done.view}`);
  showApp();
}

function init() {
  for (const v of Object.values(views)) v.init();
  $('#login-form').addEventListener('submit', onLogin);
  $('#logout').addEventListener('click', onLogout);
  window.addEventListener('hashchange', () => show(true));
  // Following the link of the tab already shown reloads it.
  for (const a of document.querySelectorAll('.tabs a')) {
    a.addEventListener('click', () => {
      if (location.hash === a.hash) show(true);
    });
  }
  auth.onSessionEnd(showLogin);
  start();
}

init();
