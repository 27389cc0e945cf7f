// Small DOM helpers. Every value from the server is written with
// textContent, never as HTML.

import { signedIn } from './auth.js';

export const $ = (sel, root = document) => root.querySelector(sel);

// h builds an element: h('td', {class: 'x', 'data-label': 'Name'}, 'text', child).
// Attributes named on* become event listeners (never inline handlers, which
// the Content-Security-Policy forbids).
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

// isZeroTime reports whether an RFC 3339 time is Go's zero time or absent.
function isZeroTime(iso) {
  return !iso || iso.startsWith('0001-01-01');
}

const pad = (n) => String(n).padStart(2, '0');

// localTime formats a date as YYYY-MM-DD HH:MM in the local zone: short,
// sortable and the same in every locale.
export function localTime(d) {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

// time renders an RFC 3339 time in the local zone, the exact value in its
// datetime and title.
export function time(iso) {
  if (isZeroTime(iso)) return h('span', { class: 'muted' }, '—');
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return h('span', {}, iso);
  return h('time', { datetime: iso, title: iso }, localTime(d));
}

export function badge(text, kind = '') {
  return h('span', { class: `badge ${kind}`.trim() }, text);
}

export function codeList(items, empty) {
  if (!items || items.length === 0) return h('span', { class: 'muted' }, empty);
  return h('span', { class: 'codes' }, items.map((s) => h('code', {}, s)));
}

// splitList splits user input separated by spaces or commas.
export function splitList(s) {
  return s.split(/[\s,]+/).filter(Boolean);
}

// renderRows fills a tbody, or shows its empty note.
export function renderRows(tbody, empty, rows) {
  tbody.replaceChildren(...rows);
  empty.hidden = rows.length > 0;
}

// td and th build table cells. data-label names the column when narrow
// screens show each row as a card; the content sits in one wrapper so that
// it stays one grid item there.
export function td(label, ...children) {
  return h('td', { 'data-label': label }, h('div', {}, ...children));
}

export function th(label, ...children) {
  return h('th', { scope: 'row', 'data-label': label }, h('div', {}, ...children));
}

let noticeTimer = 0;

// notice shows a success message in the polite live region for a while.
export function notice(message) {
  clearAlert();
  $('#notice').textContent = message;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => {
    $('#notice').textContent = '';
  }, 8000);
}

// showError shows an error in the assertive live region until the next action.
export function showError(message) {
  clearTimeout(noticeTimer);
  $('#notice').textContent = '';
  $('#alert').textContent = message;
}

export function clearAlert() {
  $('#alert').textContent = '';
}

// clearNotices empties both the success and the error message.
export function clearNotices() {
  clearTimeout(noticeTimer);
  $('#notice').textContent = '';
  clearAlert();
}

// confirm asks a yes/no question in a modal dialog. message is a string or
// an array of paragraphs. It resolves to true only when confirmed.
export function confirm({ title, message, action }) {
  const dlg = $('#confirm-dialog');
  $('#confirm-title', dlg).textContent = title;
  const paras = Array.isArray(message) ? message : [message];
  $('#confirm-message', dlg).replaceChildren(...paras.map((p) => h('p', {}, p)));
  $('#confirm-ok', dlg).textContent = action;
  dlg.returnValue = '';
  return new Promise((resolve) => {
    dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'), { once: true });
    dlg.showModal();
  });
}

// formDialog opens a dialog whose form runs submit(form) on submission: the
// dialog closes when it resolves, and shows the error when it rejects.
// prepare(form) runs after the form is reset, before the dialog opens.
export function formDialog(dlg, { prepare, submit }) {
  const form = $('form', dlg);
  const error = $('.form-error', form);
  form.reset();
  if (error) error.textContent = '';
  if (prepare) prepare(form);
  const onSubmit = async (event) => {
    event.preventDefault();
    const button = $('button[type=submit]', form);
    button.disabled = true;
    try {
      await submit(form);
      dlg.close();
    } catch (err) {
      if (error) error.textContent = err.message;
    } finally {
      button.disabled = false;
    }
  };
  form.addEventListener('submit', onSubmit);
  dlg.addEventListener('close', () => {
    form.removeEventListener('submit', onSubmit);
    form.reset();
  }, { once: true });
  dlg.showModal();
}

// Buttons marked data-close close their dialog.
document.addEventListener('click', (event) => {
  const b = event.target.closest('[data-close]');
  if (b) b.closest('dialog').close();
});

// busy disables a button while fn runs.
export async function busy(button, fn) {
  button.disabled = true;
  try {
    return await fn();
  } finally {
    button.disabled = false;
  }
}

// guard runs fn and shows its error, if any, in the alert region. Errors
// after the session ended are dropped: the sign-in form says why.
export async function guard(fn) {
  try {
    return await fn();
  } catch (err) {
    if (signedIn()) showError(err.message);
    return undefined;
  }
}
