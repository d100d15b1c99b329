// DOM helpers. Data goes into the page only as text nodes and attribute values, never as markup.

export const $ = (id) => document.getElementById(id);

export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  add(el, children);
  return el;
}

function add(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

export function fill(el, ...children) {
  el.replaceChildren();
  add(el, children);
  return el;
}

// Re-renders `el` only when `key` changed, so that live rows keep hover, focus and pending clicks.
export function renderIf(el, key, render) {
  if (el.dataset.key === key) return;
  el.dataset.key = key;
  fill(el, render());
}

// Keeps `tbody`'s rows in the order of `items`, reusing the row of each key.
export function syncRows(tbody, items, keyOf, create, update) {
  const old = new Map();
  for (const tr of tbody.children) old.set(tr.dataset.row, tr);
  let prev = null;
  for (const item of items) {
    const key = String(keyOf(item));
    let tr = old.get(key);
    if (tr) old.delete(key);
    else {
      tr = create(item);
      tr.dataset.row = key;
    }
    update(tr, item);
    const want = prev ? prev.nextSibling : tbody.firstChild;
    if (want !== tr) tbody.insertBefore(tr, want);
    prev = tr;
  }
  for (const tr of old.values()) tr.remove();
}

export function toast(message, kind = 'ok') {
  const el = h('div', { class: `toast ${kind === 'error' ? 'error' : ''}`, role: kind === 'error' ? 'alert' : 'status' }, message);
  $('toasts').append(el);
  setTimeout(() => el.remove(), kind === 'error' ? 7000 : 3500);
}
