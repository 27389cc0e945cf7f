// The Clients tab: list, add (showing a generated secret once), delete.

import * as api from './api.js';
import { $, h, th, td, time, badge, codeList, splitList, renderRows, confirm, formDialog, notice, busy, guard } from './ui.js';

export async function load() {
  const clients = await api.clients.list();
  renderRows($('#clients-body'), $('#clients-empty'), clients.map(row));
}

function row(c) {
  return h('tr', {},
    th('Client ID', h('code', {}, c.id)),
    td('Type', c.public ? 'public' : 'confidential', c.built_in ? [' ', badge('built-in', 'accent')] : null,
      c.first_party ? [' ', badge('first party')] : null),
    td('Grants', codeList(c.grants, 'none')),
    td('Scopes', codeList(c.scopes, 'none')),
    td('Audiences', codeList(c.audiences, 'server default')),
    td('Redirect URIs', codeList(c.redirect_uris, 'none')),
    td('Created', time(c.created_at)),
    td('Actions', c.built_in
      ? h('span', { class: 'muted' }, 'cannot be deleted')
      : h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete client ${c.id}`, onclick: (e) => remove(e.currentTarget, c) }, 'Delete')),
  );
}

async function remove(button, c) {
  const ok = await confirm({
    title: `Delete client ${c.id}?`,
    message: 'The client can no longer get tokens, and all of its sessions end. This cannot be undone.',
    action: 'Delete client',
  });
  if (!ok) return;
  await guard(() => busy(button, async () => {
    await api.clients.remove(c.id);
    notice(`Client ${c.id} is deleted.`);
    await load();
  }));
}

// A public client cannot use client_credentials.
function syncType(form) {
  const isPublic = form.elements.type.value === 'public';
  const cc = $('input[name=grants][value=client_credentials]', form);
  cc.disabled = isPublic;
  if (isPublic) cc.checked = false;
}

function add() {
  formDialog($('#client-add-dialog'), {
    prepare: syncType,
    async submit(form) {
      const grants = [...form.querySelectorAll('input[name=grants]:checked')].map((i) => i.value);
      if (grants.length === 0) throw new Error('Choose at least one grant.');
      // One URI a line: a redirect URI may hold a comma, never white space.
      const redirectURIs = form.elements.redirectURIs.value.split(/\s+/).filter(Boolean);
      if (grants.includes('authorization_code') && redirectURIs.length === 0) {
        throw new Error('The authorization_code grant needs at least one redirect URI.');
      }
      const c = await api.clients.create({
        id: form.elements.id.value.trim(),
        public: form.elements.type.value === 'public',
        grants,
        scopes: splitList(form.elements.scopes.value),
        audiences: splitList(form.elements.audiences.value),
        redirect_uris: redirectURIs,
        first_party: form.elements.firstParty.checked,
      });
      await guard(load);
      if (c.secret) {
        showSecret(c.id, c.secret);
      } else {
        notice(`Client ${c.id} is added.`);
      }
    },
  });
}

// showSecret shows a generated secret once. The secret leaves the DOM when
// the dialog closes; the console keeps no copy.
function showSecret(id, secret) {
  const dlg = $('#secret-dialog');
  const input = $('#secret-value', dlg);
  const status = $('#secret-copied', dlg);
  $('[data-slot=client]', dlg).textContent = id;
  input.value = secret;
  status.textContent = '';
  dlg.addEventListener('close', () => {
    forgetSecret();
    notice(`Client ${id} is added.`);
  }, { once: true });
  dlg.showModal();
  input.focus();
  input.select();
}

async function copySecret() {
  const input = $('#secret-value');
  const status = $('#secret-copied');
  try {
    await navigator.clipboard.writeText(input.value);
    status.textContent = 'Copied to the clipboard.';
  } catch {
    // The Clipboard API needs a secure context; fall back to the selection.
    input.focus();
    input.select();
    status.textContent = document.execCommand('copy')
      ? 'Copied to the clipboard.'
      : 'Copying failed: the secret is selected; press Ctrl+C or ⌘C.';
  }
}

function forgetSecret() {
  $('#secret-value').value = '';
  $('#secret-copied').textContent = '';
}

export function init() {
  $('#client-add').addEventListener('click', add);
  $('#client-add-dialog form').addEventListener('change', (e) => {
    if (e.target.name === 'type') syncType(e.currentTarget);
  });
  $('#secret-copy').addEventListener('click', copySecret);
  $('#secret-dialog form').addEventListener('submit', (e) => {
    e.preventDefault();
    forgetSecret();
    $('#secret-dialog').close();
  });
}
