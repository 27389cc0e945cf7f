// The Keys tab: signing keys with their states and times; rotate; revoke.

import * as api from './api.js';
import { $, h, th, td, time, localTime, badge, renderRows, confirm, formDialog, notice, busy, guard } from './ui.js';

const order = { active: 0, next: 1, retired: 2, revoked: 3 };
const stateKind = { active: 'ok', next: 'accent', retired: '', revoked: 'warn' };

export async function load() {
  const keys = await api.keys.list();
  keys.sort((a, b) => (order[a.state] ?? 9) - (order[b.state] ?? 9) || b.created_at.localeCompare(a.created_at));
  renderRows($('#keys-body'), $('#keys-empty'), keys.map(row));
  $('#keys-unencrypted').hidden = !keys.some((k) => k.state !== 'revoked' && !k.encrypted);
}

function shortKid(kid) {
  return kid.length > 16 ? `${kid.slice(0, 16)}…` : kid;
}

// kind describes a key's algorithm and size: RSA for RS256 (older keys
// have no alg and are RS256), P-256 for ES256, Ed25519 for EdDSA.
function kind(k) {
  switch (k.alg) {
    case 'ES256': return 'P-256 (ES256)';
    case 'EdDSA': return 'Ed25519 (EdDSA)';
    default: return `RSA ${k.bits} (RS256)`;
  }
}

function row(k) {
  return h('tr', { 'data-kid': k.kid },
    th('Key ID', h('code', { title: k.kid }, shortKid(k.kid))),
    td('State', badge(k.state, stateKind[k.state] || '')),
    td('Algorithm', kind(k)),
    td('Created', time(k.created_at)),
    td('Activated', time(k.activated_at)),
    td('Next change', time(k.next_rotation)),
    td('Removed at', time(k.remove_at)),
    td('Actions', k.state === 'revoked'
      ? null
      : h('button', { type: 'button', class: 'small danger', 'aria-label': `Revoke key ${k.kid}`, onclick: (e) => revoke(e.currentTarget, k) }, 'Revoke')),
  );
}

function consequences(k) {
  const common = 'It leaves the JWKS at once, and access tokens it signed stop introspecting as active.';
  switch (k.state) {
    case 'active':
      return [
        `Revoke the active signing key ${shortKid(k.kid)}? Do this only if the key is compromised.`,
        common,
        'A new key becomes active immediately. This is an emergency measure: resource servers that cache the JWKS may reject newly issued tokens until they fetch it again.',
      ];
    case 'next':
      return [common, 'A new next key is published in its place.'];
    default:
      return [common];
  }
}

async function revoke(button, k) {
  const ok = await confirm({
    title: k.state === 'active' ? 'Emergency: revoke the active key?' : `Revoke key ${shortKid(k.kid)}?`,
    message: consequences(k),
    action: 'Revoke key',
  });
  if (!ok) return;
  await guard(() => busy(button, async () => {
    await api.keys.revoke(k.kid);
    notice(`Key ${shortKid(k.kid)} is revoked.`);
    await load();
  }));
}

function rotate() {
  formDialog($('#key-rotate-dialog'), {
    async submit(form) {
      const info = await api.keys.rotate(form.elements.whenSafe.checked);
      if (info.state === 'active' && info.early_activation) {
        notice(`Key ${shortKid(info.kid)} is now the active signing key. It was published only recently: resource servers that cached the JWKS before may reject new tokens until they fetch it again.`);
      } else if (info.state === 'active') {
        notice(`Key ${shortKid(info.kid)} is now the active signing key.`);
      } else {
        const when = info.next_rotation || info.activated_at;
        const at = when ? localTime(new Date(when)) : 'soon';
        notice(`Key ${shortKid(info.kid)} becomes the active signing key at ${at}.`);
      }
      await guard(load);
    },
  });
}

export function init() {
  $('#key-rotate').addEventListener('click', rotate);
}
