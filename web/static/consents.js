// The Consents tab: the scopes users approved for third-party clients on
// the consent page of the authorization code flow, filtered by user;
// revoke one (the user is asked again, and their sessions of that client
// end).

import * as api from './api.js';
import { $, h, th, td, time, codeList, renderRows, confirm, notice, busy, guard } from './ui.js';

let filterUser = '';

export async function load() {
  const [consents, users] = await Promise.all([api.consents.list(filterUser), api.users.list()]);
  $('#consents-users').replaceChildren(...users.map((u) => h('option', { value: u.username })));
  renderRows($('#consents-body'), $('#consents-empty'), consents.map(row));
  $('#consents-empty').textContent = filterUser ? `No consents of ${filterUser}.` : 'No consents.';
}

function row(c) {
  return h('tr', { 'data-consent': `${c.user}/${c.client}` },
    th('User', c.user),
    td('Client', h('code', {}, c.client)),
    td('Scopes', codeList(c.scopes, 'none')),
    td('Granted', time(c.granted_at)),
    td('Updated', time(c.updated_at)),
    td('Actions', h('button', { type: 'button', class: 'small danger', 'aria-label': `Revoke the consent of ${c.user} for ${c.client}`, onclick: (e) => revoke(e.currentTarget, c) }, 'Revoke')),
  );
}

async function revoke(button, c) {
  const ok = await confirm({
    title: 'Revoke this consent?',
    message: `${c.user} is asked again the next time ${c.client} wants access, and ${c.user}'s sessions of ${c.client} end now. Access tokens already issued stay valid until they expire.`,
    action: 'Revoke consent',
  });
  if (!ok) return;
  await guard(() => busy(button, async () => {
    await api.consents.revoke(c.user, c.client);
    notice(`The consent of ${c.user} for ${c.client} is revoked.`);
    await load();
  }));
}

export function init() {
  const form = $('#consents-filter');
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    filterUser = form.elements.user.value.trim();
    guard(load);
  });
  $('#consents-clear').addEventListener('click', () => {
    form.elements.user.value = '';
    filterUser = '';
    guard(load);
  });
}
