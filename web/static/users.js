// The Users tab: list, add, enable/disable, change password, end sessions,
// delete.

import * as api from './api.js';
import { username as me } from './auth.js';
import { $, h, th, td, time, badge, codeList, splitList, renderRows, confirm, formDialog, notice, busy, guard } from './ui.js';

export async function load() {
  const users = await api.users.list();
  renderRows($('#users-body'), $('#users-empty'), users.map(row));
}

function scopes(u) {
  const list = codeList(u.scopes, 'any except authd:admin');
  return u.admin ? [list, ' ', h('code', {}, 'authd:admin')] : list;
}

function row(u) {
  const self = u.username === me();
  return h('tr', {},
    th('Username', u.username, self ? h('span', { class: 'muted' }, ' (you)') : null),
    td('Scopes', scopes(u)),
    td('Role', u.admin ? badge('admin', 'accent') : 'user'),
    td('Status', u.disabled ? badge('disabled', 'warn') : badge('enabled', 'ok')),
    td('Created', time(u.created_at)),
    td('Actions', h('div', { class: 'row-actions' },
      u.disabled
        ? h('button', { type: 'button', class: 'small secondary', 'aria-label': `Enable ${u.username}`, onclick: (e) => setDisabled(e.currentTarget, u, false) }, 'Enable')
        : h('button', { type: 'button', class: 'small secondary', 'aria-label': `Disable ${u.username}`, onclick: (e) => setDisabled(e.currentTarget, u, true) }, 'Disable'),
      h('button', { type: 'button', class: 'small secondary', 'aria-label': `Change the password of ${u.username}`, onclick: () => changePassword(u) }, 'Password'),
      h('button', { type: 'button', class: 'small secondary', 'aria-label': `End all sessions of ${u.username}`, onclick: (e) => endSessions(e.currentTarget, u) }, 'End sessions'),
      h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete ${u.username}`, onclick: (e) => remove(e.currentTarget, u) }, 'Delete'),
    )),
  );
}

const selfNote = 'This is your own account: you will be signed out.';

async function setDisabled(button, u, disabled) {
  if (disabled) {
    const ok = await confirm({
      title: `Disable ${u.username}?`,
      message: [
        'The user can no longer sign in, and all of their sessions end now. You can enable the user again later.',
        u.username === me() ? selfNote : null,
      ].filter(Boolean),
      action: 'Disable',
    });
    if (!ok) return;
  }
  await guard(() => busy(button, async () => {
    await api.users.update(u.username, { disabled });
    notice(disabled ? `${u.username} is disabled and signed out everywhere.` : `${u.username} is enabled.`);
    await load();
  }));
}

function changePassword(u) {
  formDialog($('#user-password-dialog'), {
    prepare(form) {
      $('[data-slot=username]', form).textContent = u.username;
    },
    async submit(form) {
      const pw = form.elements.password.value;
      if (pw !== form.elements.again.value) throw new Error('The two passwords differ.');
      await api.users.update(u.username, { password: pw });
      notice(`The password of ${u.username} is changed; their sessions have ended.`);
      await guard(load);
    },
  });
}

async function endSessions(button, u) {
  const ok = await confirm({
    title: `End all sessions of ${u.username}?`,
    message: [
      'Every refresh token of this user is revoked; their apps must sign in again. Access tokens already issued stay valid until they expire.',
      u.username === me() ? selfNote : null,
    ].filter(Boolean),
    action: 'End sessions',
  });
  if (!ok) return;
  await guard(() => busy(button, async () => {
    await api.users.endSessions(u.username);
    notice(`All sessions of ${u.username} have ended.`);
  }));
}

async function remove(button, u) {
  const ok = await confirm({
    title: `Delete ${u.username}?`,
    message: [
      'The user and all of their sessions are removed. This cannot be undone.',
      u.username === me() ? selfNote : null,
    ].filter(Boolean),
    action: 'Delete user',
  });
  if (!ok) return;
  await guard(() => busy(button, async () => {
    await api.users.remove(u.username);
    notice(`${u.username} is deleted.`);
    await load();
  }));
}

function add() {
  formDialog($('#user-add-dialog'), {
    async submit(form) {
      const u = await api.users.create({
        username: form.elements.username.value.trim(),
        password: form.elements.password.value,
        scopes: splitList(form.elements.scopes.value),
        admin: form.elements.admin.checked,
      });
      notice(`${u.username} is added.`);
      await guard(load);
    },
  });
}

export function init() {
  $('#user-add').addEventListener('click', add);
}
