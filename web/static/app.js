// The console's entry point: sign-in, the status header and the tabs.

import * as auth from './auth.js';
import * as api from './api.js';
import { $, showError, clearNotices } from './ui.js';
import * as users from './users.js';
import * as clients from './clients.js';
import * as sessions from './sessions.js';
import * as keys from './keys.js';

const views = { users, clients, sessions, keys };

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

function showLogin(message) {
  $('#app-view').hidden = true;
  $('#who').hidden = true;
  $('#login-view').hidden = false;
  $('#login-message').textContent = message || '';
  $('#login-error').textContent = '';
  $('#login-username').focus();
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

async function onLogin(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const button = $('button[type=submit]', form);
  const error = $('#login-error');
  error.textContent = '';
  button.disabled = true;
  try {
    await auth.login(form.elements.username.value.trim(), form.elements.password.value);
    form.reset();
    showApp();
  } catch (err) {
    form.elements.password.value = '';
    error.textContent = err.message;
    form.elements.password.focus();
  } finally {
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
    $('#issuer-value').textContent = md.issuer;
    $('#issuer').hidden = false;
  } catch {
    // The header simply shows no issuer.
  }
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
  loadIssuer();
  showLogin('');
}

init();
