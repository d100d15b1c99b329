// Calls to the node's REST API, with the bearer token: asked for once when a call gets 401, kept in
// sessionStorage (this tab only) and sent as `Authorization: Bearer`.

import { $, fill, toast } from './dom.js';

const TOKEN_KEY = 'kiln.token';
const tokenListeners = [];

// `fn` runs after the user gave a token: what failed before it (off loopback, everything) can retry.
export function onTokenAccepted(fn) {
  tokenListeners.push(fn);
}

export class ApiError extends Error {
  constructor(status, body) {
    const message = (body && body.message) || `HTTP ${status}`;
    super(message);
    this.status = status;
    this.code = (body && body.error) || '';
  }
}

let tokenAsk = null;         // the open token prompt, shared by every call waiting on it
let tokenDeclined = false;   // the user closed the prompt: background polls stop asking

export async function api(method, path, body, { interactive = true } = {}) {
  for (let attempt = 0; ; attempt++) {
    const headers = {};
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = `Bearer ${token}`;
    const init = { method, headers, cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (res.status === 401 && attempt < 3 && (interactive || !tokenDeclined)) {
      const reason = token ? 'The node refused this token. Enter the right one.'
                           : 'This node needs its bearer token for this call.';
      if (await askToken(reason)) continue;
    }
    if (!res.ok) throw new ApiError(res.status, data);
    return { status: res.status, data };
  }
}

function askToken(reason) {
  if (tokenAsk) return tokenAsk;
  const dialog = $('token-dialog');
  fill($('token-reason'), reason);
  $('token-input').value = '';
  tokenAsk = new Promise((resolve) => {
    const done = (ok) => {
      $('token-form').onsubmit = null;
      $('token-cancel').onclick = null;
      dialog.onclose = null;
      if (dialog.open) dialog.close();
      tokenAsk = null;
      tokenDeclined = !ok;
      updateTokenButton();
      resolve(ok);
      if (ok) for (const fn of tokenListeners) fn();
    };
    $('token-form').onsubmit = (ev) => {
      ev.preventDefault();
      const value = $('token-input').value.trim();
      if (!value) return;
      sessionStorage.setItem(TOKEN_KEY, value);
      done(true);
    };
    $('token-cancel').onclick = () => done(false);
    dialog.onclose = () => done(false);
  });
  dialog.showModal();
  $('token-input').focus();
  return tokenAsk;
}

export function updateTokenButton() {
  const has = !!sessionStorage.getItem(TOKEN_KEY);
  const btn = $('token-button');
  btn.hidden = !has && !tokenDeclined;
  fill(btn, has ? 'Forget token' : 'Enter token');
}

$('token-button').addEventListener('click', () => {
  if (sessionStorage.getItem(TOKEN_KEY)) {
    sessionStorage.removeItem(TOKEN_KEY);
    tokenDeclined = false;
    updateTokenButton();
    toast('Token forgotten for this tab.');
  } else {
    askToken('Enter the node\'s bearer token.');
  }
});
