// The Sessions tab: refresh-token families, filtered by user; revoke one.

import * as api from './api.js';
import { $, h, th, td, time, badge, codeList, renderRows, confirm, notice, busy, guard } from './ui.js';

let filterUser = '';

export async function load() {
  const [sessions, users] = await Promise.all([api.sessions.list(filterUser), api.users.list()]);
  $('#sessions-users').replaceChildren(...users.map((u) => h('option', { value: u.username })));
  const showEnded = $('#sessions-ended').checked;
  const shown = sessions.filter((s) => showEnded || s.status === 'active').reverse();
  renderRows($('#sessions-body'), $('#sessions-empty'), shown.map(row));
  $('#sessions-empty').textContent = filterUser ? `No sessions of ${filterUser}.` : 'No sessions.';
}

const statusKind = { active: 'ok', expired: '', revoked: 'warn' };

// expires is when the session dies: at its idle expiry unless it is used,
// and at its absolute expiry in any case.
function expires(s) {
  const idle = new Date(s.idle_expires_at);
  const abs = new Date(s.expires_at);
  return idle < abs ? [time(s.idle_expires_at), h('span', { class: 'muted' }, ' if unused')] : time(s.expires_at);
}

// ended says when an ended session ended, or when a live one will.
function ended(s) {
  if (s.status === 'active') return expires(s);
  if (s.status === 'revoked') return s.revoked_at ? ['revoked ', time(s.revoked_at)] : 'revoked';
  return new Date(s.idle_expires_at) < new Date(s.expires_at) ? time(s.idle_expires_at) : time(s.expires_at);
}

function row(s) {
  return h('tr', { 'data-session': s.id },
    th('User', s.user || h('span', { class: 'muted' }, 'deleted user')),
    td('Client', h('code', {}, s.client)),
    td('Scope', codeList(s.scope, 'none')),
    td('Status', badge(s.status, statusKind[s.status] || ''), s.revoke_reason ? h('span', { class: 'muted small-print' }, ` ${s.revoke_reason}`) : null),
    td('Signed in', time(s.auth_time)),
    td('Last used', time(s.last_used_at)),
    td('Expires', ended(s)),
    td('Actions', s.status === 'active'
      ? h('button', { type: 'button', class: 'small danger', 'aria-label': `Revoke the session of ${s.user || 'a deleted user'} on ${s.client}`, onclick: (e) => revoke(e.currentTarget, s) }, 'Revoke')
      : null),
  );
}

async function revoke(button, s) {
  const ok = await confirm({
    title: 'Revoke this session?',
    message: `The refresh tokens of ${s.user || 'this user'} on client ${s.client} stop working; the app must sign in again. Access tokens already issued stay valid until they expire.`,
    action: 'Revoke session',
  });
  if (!ok) return;
  await guard(() => busy(button, async () => {
    await api.sessions.revoke(s.id);
    notice('The session is revoked.');
    await load();
  }));
}

export function init() {
  const form = $('#sessions-filter');
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    filterUser = form.elements.user.value.trim();
    guard(load);
  });
  $('#sessions-clear').addEventListener('click', () => {
    form.elements.user.value = '';
    filterUser = '';
    guard(load);
  });
  $('#sessions-ended').addEventListener('change', () => guard(load));
}
