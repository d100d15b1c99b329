// Kiln dashboard: one page over the node's REST API (docs/rest-api.md). No framework, no build step.
// Every piece of data reaches the page through textContent or an attribute, never as markup.
'use strict';

(() => {
  const POLL_MS = 1000;
  const HIDDEN_POLL_MS = 5000;
  const PAGE = 50;
  const MAX_LIMIT = 1000;
  const TOKEN_KEY = 'kiln.token';

  // ---------------------------------------------------------------- DOM helpers

  const $ = (id) => document.getElementById(id);

  function h(tag, props, ...children) {
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

  function fill(el, ...children) {
    el.replaceChildren();
    add(el, children);
    return el;
  }

  // Re-renders `el` only when `key` changed, so that live rows keep hover, focus and pending clicks.
  function renderIf(el, key, render) {
    if (el.dataset.key === key) return;
    el.dataset.key = key;
    fill(el, render());
  }

  // Keeps `tbody`'s rows in the order of `items`, reusing the row of each key.
  function syncRows(tbody, items, keyOf, create, update) {
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

  // ---------------------------------------------------------------- formatting

  const nf = new Intl.NumberFormat();
  const num = (n) => nf.format(Number(n) || 0);
  const cf = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 2 });
  // For the small count cells: 3,630,000 reads as 3.63M; the exact figure is in the tooltip.
  const short = (n) => (Math.abs(Number(n) || 0) >= 1e6 ? cf.format(Number(n)) : num(n));

  function duration(ms) {
    if (!(ms >= 0)) return '';
    if (ms < 1000) return `${Math.round(ms)} ms`;
    const s = ms / 1000;
    if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m}m ${Math.floor(s % 60)}s`;
    const hrs = Math.floor(m / 60);
    if (hrs < 48) return `${hrs}h ${m % 60}m`;
    return `${Math.floor(hrs / 24)}d ${hrs % 24}h`;
  }

  function ago(ms) {
    if (!ms) return '';
    const d = Date.now() - ms;
    if (d < 0) return `in ${duration(-d)}`;
    if (d < 5000) return 'just now';
    return `${duration(d)} ago`;
  }

  function until(ms) {
    const d = ms - Date.now();
    if (d <= 0) return d > -5000 ? 'now' : `${duration(-d)} ago`;
    return `in ${duration(d)}`;
  }

  function clock(ms) {
    if (!ms) return '';
    const d = new Date(ms);
    const sameDay = d.toDateString() === new Date().toDateString();
    return sameDay ? d.toLocaleTimeString() : d.toLocaleString();
  }

  const iso = (ms) => (ms ? new Date(ms).toISOString() : '');
  const parseIso = (s) => (s ? Date.parse(s) : 0);

  function timeCell(ms) {
    if (!ms) return h('span', { class: 'sub' }, '—');
    return h('span', { class: 'time', title: iso(ms) }, ago(ms));
  }

  function paramValue(p) {
    if (p && typeof p === 'object' && 'value' in p) {
      if (p.type === 'date' && typeof p.value === 'number') return iso(p.value);
      return String(p.value);
    }
    return String(p);
  }

  // Identifying parameters first: they tell instances apart; the rest are often defaults.
  function paramSummary(params) {
    return Object.entries(params || {})
      .sort(([, a], [, b]) => Number(!!(b && b.identifying !== false)) - Number(!!(a && a.identifying !== false)))
      .map(([k, p]) => `${p && p.identifying === false ? '-' : ''}${k}=${paramValue(p)}`)
      .join(' ');
  }

  // A queued execution is STARTING with no node yet; the CLI shows it as QUEUED too.
  const isQueued = (e) => e.status === 'STARTING' && !e.node;
  const shownStatus = (e) => (isQueued(e) ? 'QUEUED' : e.status);
  const isRunning = (e) => ['STARTING', 'STARTED', 'STOPPING'].includes(e.status) && !isQueued(e);

  function chip(status, title) {
    return h('span', { class: `chip s-${status}`, title }, status);
  }

  function statusChip(e) {
    const title = isQueued(e) ? `STARTING: waiting in queue '${e.queue}'` : `exit ${e.exit_code}`;
    return chip(shownStatus(e), title);
  }

  function took(e) {
    if (!e.start_time) return '';
    return duration((e.end_time || Date.now()) - e.start_time);
  }

  // ---------------------------------------------------------------- API and token

  class ApiError extends Error {
    constructor(status, body) {
      const message = (body && body.message) || `HTTP ${status}`;
      super(message);
      this.status = status;
      this.code = (body && body.error) || '';
    }
  }

  let tokenAsk = null;         // the open token prompt, shared by every call waiting on it
  let tokenDeclined = false;   // the user closed the prompt: background polls stop asking

  async function api(method, path, body, { interactive = true } = {}) {
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
        // What failed before the token (off loopback: everything) is worth another try.
        if (ok && !state.schedulesAvailable) probeSchedules().then(route);
        if (ok && !state.jobs.length) loadJobs().catch(() => {});
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

  function updateTokenButton() {
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

  // ---------------------------------------------------------------- toasts

  function toast(message, kind = 'ok') {
    const el = h('div', { class: `toast ${kind === 'error' ? 'error' : ''}`, role: kind === 'error' ? 'alert' : 'status' }, message);
    $('toasts').append(el);
    setTimeout(() => el.remove(), kind === 'error' ? 7000 : 3500);
  }

  // ---------------------------------------------------------------- state and routing

  const state = {
    view: 'executions',
    selected: 0,           // execution shown in the detail panel
    detail: null,
    filters: { job: '', status: '' },
    limit: PAGE,
    jobs: [],
    status: null,
    queueNames: new Set(['default']),
    schedulesAvailable: false,
    openContexts: new Set(),   // step ids whose context the user opened
  };

  function route() {
    const m = location.hash.match(/^#\/(executions|queues|schedules)(?:\/(\d+))?/);
    let view = m ? m[1] : 'executions';
    if (view === 'schedules' && !state.schedulesAvailable) view = 'executions';
    state.view = view;
    if (view === 'executions') state.selected = m && m[2] ? Number(m[2]) : 0;
    for (const a of document.querySelectorAll('.tabs a')) a.classList.toggle('active', a.dataset.view === view);
    for (const v of ['executions', 'queues', 'schedules']) $(`view-${v}`).hidden = v !== view;
    if (!state.selected) closeDetail(false);
    refreshNow();
  }

  function select(id) {
    location.hash = id ? `#/executions/${id}` : '#/executions';
  }

  window.addEventListener('hashchange', route);
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && state.selected && !document.querySelector('dialog[open]')) closeDetail();
  });

  // ---------------------------------------------------------------- polling

  let timer = 0;
  let polling = false;
  let again = false;

  async function tick() {
    clearTimeout(timer);
    if (polling) { again = true; return; }
    polling = true;
    try {
      const work = [refreshStatus()];
      if (state.view === 'executions') work.push(refreshExecutions());
      if (state.view === 'executions' && state.selected) work.push(refreshDetail());
      if (state.view === 'queues') work.push(refreshQueues());
      if (state.view === 'schedules') work.push(refreshSchedules());
      const results = await Promise.allSettled(work);
      const failed = results.find((r) => r.status === 'rejected');
      setConnection(!failed || failed.reason instanceof ApiError, failed && failed.reason);
    } finally {
      polling = false;
      timer = setTimeout(tick, document.hidden ? HIDDEN_POLL_MS : POLL_MS);
      if (again) { again = false; tick(); }
    }
  }

  const refreshNow = () => tick();
  document.addEventListener('visibilitychange', () => { if (!document.hidden) refreshNow(); });

  function setConnection(ok, err) {
    const conn = $('conn');
    conn.className = `conn ${ok ? 'live' : 'down'}`;
    conn.title = ok ? 'live: refreshing every second' : `cannot reach the node: ${err ? err.message : ''}`;
    const banner = $('offline-banner');
    banner.hidden = ok;
    if (!ok) fill(banner, `Cannot reach the node (${err ? err.message : 'no answer'}). Retrying; what you see may be out of date.`);
  }

  // ---------------------------------------------------------------- node status header

  async function refreshStatus() {
    const { data: s } = await api('GET', '/api/v1/status', undefined, { interactive: false });
    state.status = s;
    for (const q of s.queues || []) state.queueNames.add(q);
    fill($('node-name'), s.node);
    document.title = `Kiln · ${s.node}`;
    const pct = s.capacity ? Math.min(100, (100 * s.running) / s.capacity) : 0;
    const meter = h('span', { class: 'meter' }, h('span'));
    meter.firstChild.style.width = `${pct}%`;
    renderIf($('node-status'), JSON.stringify([s.version, Math.floor(s.uptime_ms / 1000), s.running, s.queued,
                                                 s.capacity, s.accepting, s.queues]), () => [
      h('span', { class: 'conn live', id: 'conn', title: 'live' }),
      stat('Version', s.version),
      stat('Uptime', duration(s.uptime_ms)),
      h('div', { class: 'stat capacity', title: `${s.running} of ${s.capacity} execution slots in use` },
        h('span', { class: 'label' }, 'Running'),
        h('span', { class: 'value' }, `${s.running} / ${s.capacity}`, meter)),
      stat('Queued', num(s.queued)),
      stat('Serves', (s.queues || []).length ? s.queues.join(', ') : 'all queues'),
      s.accepting ? null : h('span', { class: 'draining' }, 'shutting down'),
    ]);
    fill($('queue-count'), s.queued ? num(s.queued) : '');
  }

  function stat(label, value) {
    return h('div', { class: 'stat' }, h('span', { class: 'label' }, label), h('span', { class: 'value' }, value));
  }

  // ---------------------------------------------------------------- jobs (filters and submit form)

  async function loadJobs() {
    const { data } = await api('GET', '/api/v1/jobs', undefined, { interactive: false });
    state.jobs = (data.jobs || []).slice().sort((a, b) => a.name.localeCompare(b.name));
    const filter = $('filter-job');
    const current = filter.value;
    fill(filter, h('option', { value: '' }, 'all jobs'), state.jobs.map((j) => h('option', { value: j.name }, j.name)));
    filter.value = current;
  }

  // ---------------------------------------------------------------- executions table

  async function refreshExecutions() {
    const q = new URLSearchParams({ limit: String(state.limit) });
    if (state.filters.job) q.set('job', state.filters.job);
    if (state.filters.status) q.set('status', state.filters.status);
    const { data } = await api('GET', `/api/v1/executions?${q}`, undefined, { interactive: false });
    const list = data.executions || [];
    for (const e of list) state.queueNames.add(e.queue);
    syncRows($('executions-table').tBodies[0], list, (e) => e.id, createExecutionRow, updateExecutionRow);
    const empty = $('executions-empty');
    empty.hidden = list.length > 0;
    fill(empty, state.filters.job || state.filters.status ? 'No executions match these filters.'
                                                          : 'No executions yet. Submit a job to get started.');
    const more = $('load-more');
    more.hidden = !data.next_before || state.limit >= MAX_LIMIT;
    fill($('executions-note'), list.length ? `${num(list.length)} shown${data.next_before ? ', newest first' : ''}` : '');
  }

  function createExecutionRow(e) {
    const tr = h('tr', { class: 'clickable', tabindex: '0' });
    for (const cls of ['id', 'job', 'status', 'progress-cell', 'queue', 'started', 'actions']) {
      tr.append(h('td', { class: cls }));
    }
    const open = (ev) => {
      if (ev.target.closest('button')) return;
      select(Number(tr.dataset.row) === state.selected ? 0 : Number(tr.dataset.row));
    };
    tr.addEventListener('click', open);
    tr.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') open(ev); });
    return tr;
  }

  function updateExecutionRow(tr, e) {
    const [id, job, status, progress, queue, started, actions] = tr.children;
    tr.classList.toggle('selected', e.id === state.selected);
    tr.dataset.status = e.status;
    renderIf(id, String(e.id), () => String(e.id));
    const params = paramSummary(e.parameters);
    renderIf(job, e.job + params, () => [
      h('div', { class: 'job-name' }, e.job),
      params ? h('div', { class: 'params', title: params }, params) : null,
    ]);
    renderIf(status, shownStatus(e) + e.exit_code, () => statusChip(e));
    renderIf(progress, JSON.stringify([e.status, e.node, e.progress, e.exit_code, e.exit_description]),
             () => progressCell(e));
    renderIf(queue, `${e.queue}/${e.priority}`, () => [
      h('span', { class: 'mono' }, e.queue), e.priority ? h('span', { class: 'sub' }, ` · p${e.priority}`) : null,
    ]);
    renderIf(started, `${e.start_time || e.create_time}/${took(e)}/${Math.floor(Date.now() / 5000)}`, () => [
      h('div', null, timeCell(e.start_time || e.create_time)),
      h('div', { class: 'sub time' }, isQueued(e) ? `waiting ${duration(Date.now() - e.create_time)}`
        : e.start_time ? `${e.end_time ? 'took' : 'running'} ${took(e)}` : ''),
    ]);
    renderIf(actions, `${shownStatus(e)}`, () => actionButtons(e, true));
  }

  function progressBar(e) {
    const p = e.progress;
    const known = p && p.fraction >= 0;
    const bar = h('div', {
      class: `bar ${known ? '' : 'indeterminate'} ${e.status === 'STOPPING' ? 'stopping' : ''}`,
      role: 'progressbar',
      'aria-valuemin': '0',
      'aria-valuemax': '100',
      'aria-valuenow': known ? String(Math.round(p.fraction * 100)) : null,
    }, h('span'));
    if (known) bar.firstChild.style.width = `${Math.max(2, Math.min(100, p.fraction * 100))}%`;
    return bar;
  }

  function rate(p) {
    return p && p.items_per_second > 0 ? `${num(Math.round(p.items_per_second))} items/s` : '';
  }

  function progressCell(e) {
    if (isQueued(e)) return h('span', { class: 'sub' }, `waiting in ${e.queue}`);
    if (isRunning(e)) {
      const p = e.progress;
      let what = e.status === 'STOPPING' ? 'stopping at the next chunk' : 'starting';
      if (p) {
        const parts = [p.step];
        if (p.read || p.written) parts.push(`${num(p.read)} read`);
        else if (p.commits) parts.push(`${num(p.commits)} commits`);
        if (p.fraction >= 0) parts.push(`${Math.floor(p.fraction * 100)}%`);
        what = parts.join(' · ');
      }
      return h('div', { class: 'progress' }, progressBar(e),
               h('div', { class: 'line' }, h('span', null, what), h('span', { class: 'rate' }, rate(p))));
    }
    if (e.exit_description) {
      const bad = e.status === 'FAILED';
      return h('span', { class: `exit-note ${bad ? 'bad' : ''}`, title: e.exit_description },
               e.exit_code !== e.status ? `${e.exit_code}: ${e.exit_description}` : e.exit_description);
    }
    if (e.exit_code && e.exit_code !== e.status && e.exit_code !== 'UNKNOWN') {
      return h('span', { class: 'exit-note' }, e.exit_code);
    }
    return null;
  }

  $('filter-job').addEventListener('change', (ev) => { state.filters.job = ev.target.value; state.limit = PAGE; refreshNow(); });
  $('filter-status').addEventListener('change', (ev) => { state.filters.status = ev.target.value; state.limit = PAGE; refreshNow(); });
  $('load-more').addEventListener('click', () => { state.limit = Math.min(MAX_LIMIT, state.limit + PAGE); refreshNow(); });

  // ---------------------------------------------------------------- operations

  // Which operations apply to an execution in this state (docs/rest-api.md, operations table).
  function operationsFor(e) {
    if (isQueued(e)) return ['cancel'];
    if (e.status === 'STOPPING') return ['kill'];
    if (isRunning(e)) return ['stop', 'kill'];
    if (e.status === 'STOPPED' || e.status === 'FAILED') return ['restart', 'abandon'];
    return [];
  }

  const DESTRUCTIVE = new Set(['kill', 'abandon']);
  const OP_TITLES = {
    cancel: 'Take it out of its queue (STOPPED, exit CANCELLED)',
    stop: 'Stop at the next chunk boundary; it can be restarted',
    kill: 'Fail it now (exit KILLED); its worker is fenced',
    restart: 'Queue a new execution that resumes from the last checkpoint',
    abandon: 'Never run this instance again',
  };

  function actionButtons(e, small) {
    return operationsFor(e).map((op) => {
      const btn = h('button', {
        type: 'button',
        class: `${small ? 'small' : ''} ${DESTRUCTIVE.has(op) ? 'danger' : ''}`,
        title: OP_TITLES[op],
        dataset: { op },
      }, op[0].toUpperCase() + op.slice(1));
      btn.addEventListener('click', (ev) => {
        ev.stopPropagation();
        if (DESTRUCTIVE.has(op) && !btn.classList.contains('confirming')) {
          // Two clicks for what cannot be undone; no browser dialog.
          btn.classList.add('confirming');
          fill(btn, `Confirm ${op}`);
          setTimeout(() => {
            btn.classList.remove('confirming');
            fill(btn, op[0].toUpperCase() + op.slice(1));
          }, 3000);
          return;
        }
        operate(e.id, op, btn);
      });
      return btn;
    });
  }

  async function operate(id, op, btn) {
    if (btn) btn.disabled = true;
    try {
      const { data } = await api('POST', `/api/v1/executions/${id}/${op}`);
      if (op === 'restart') {
        toast(`Execution ${id} restarted as execution ${data.id}.`);
        if (state.selected === id) select(data.id);
      } else {
        toast(`Execution ${id}: ${op} → ${shownStatus(data)}${data.exit_code !== 'UNKNOWN' ? ` (exit ${data.exit_code})` : ''}`);
      }
    } catch (err) {
      toast(`${op} ${id}: ${err.message}`, 'error');
    } finally {
      if (btn) btn.disabled = false;
      refreshNow();
    }
  }

  // ---------------------------------------------------------------- detail panel

  async function refreshDetail() {
    const id = state.selected;
    let d;
    try {
      ({ data: d } = await api('GET', `/api/v1/executions/${id}`, undefined, { interactive: false }));
    } catch (err) {
      if (err.status === 404 && id === state.selected) {
        toast(`No execution ${id}.`, 'error');
        select(0);
        return;
      }
      throw err;
    }
    if (id !== state.selected) return;
    state.detail = d;
    renderDetail(d);
  }

  function closeDetail(navigate = true) {
    state.detail = null;
    $('detail').hidden = true;
    $('detail').replaceChildren();
    $('split').classList.remove('with-detail');
    for (const tr of $('executions-table').tBodies[0].children) tr.classList.remove('selected');
    if (navigate) select(0);
  }

  function renderDetail(d) {
    const panel = $('detail');
    panel.hidden = false;
    $('split').classList.add('with-detail');
    if (panel.dataset.id !== String(d.id)) {
      panel.dataset.id = String(d.id);
      fill(panel,
        h('div', { class: 'detail-head' },
          h('div', null, h('h2', null, `Execution ${d.id}`), h('div', { class: 'sub', 'data-part': 'subtitle' })),
          h('button', { type: 'button', class: 'ghost icon close', 'aria-label': 'Close detail', onclick: () => closeDetail() }, '✕')),
        h('section', { 'data-part': 'state' }),
        h('section', { 'data-part': 'live' }),
        h('section', { 'data-part': 'facts' }),
        h('section', { 'data-part': 'params' }),
        h('section', { 'data-part': 'steps' }));
    }
    const part = (name) => panel.querySelector(`[data-part="${name}"]`);

    renderIf(part('subtitle'), `${d.job}/${d.instance_id}`, () => [
      h('span', { class: 'job-name' }, d.job), ` · instance ${d.instance_id}`,
    ]);

    renderIf(part('state'), JSON.stringify([shownStatus(d), d.exit_code, d.exit_description]), () => {
      const out = [h('div', { class: 'step-head' }, statusChip(d),
                     d.exit_code !== 'UNKNOWN' && d.exit_code !== d.status ? h('span', { class: 'sub' }, `exit ${d.exit_code}`) : null)];
      if (d.exit_description) {
        out.push(h('div', { class: d.status === 'FAILED' ? 'error-box' : 'note-box', 'data-role': 'error' },
                   d.exit_description));
      }
      const ops = actionButtons(d, false);
      if (ops.length) out.push(h('div', { class: 'actions' }, ops));
      return out;
    });

    const live = part('live');
    live.hidden = !isRunning(d);
    if (isRunning(d)) {
      renderIf(live, JSON.stringify([d.status, d.progress]), () => {
        const p = d.progress || {};
        return [h('h3', null, 'Live progress'),
          h('div', { class: 'live-progress' }, progressBar(d)),
          h('div', { class: 'counts' },
            count('Step', p.step || '—'), count('Read', p.read || 0), count('Written', p.written || 0),
            count('Items/s', Math.round(p.items_per_second || 0))),
          h('div', { class: 'counts' },
            count('Skipped', p.skipped || 0, p.skipped > 0), count('Commits', p.commits || 0),
            count('Done', p.fraction >= 0 ? `${Math.floor(p.fraction * 100)}%` : 'n/a'),
            count('Running', took(d)))];
      });
    }

    renderIf(part('facts'), JSON.stringify([d.queue, d.priority, d.node, d.create_time, d.claim_time, d.start_time,
                                             d.end_time, isRunning(d) ? Math.floor(Date.now() / 1000) : 0]), () => [
      h('h3', null, 'Execution'),
      h('dl', { class: 'facts' },
        fact('Queue', `${d.queue} (priority ${d.priority})`),
        fact('Node', d.node || 'not claimed yet'),
        fact('Created', timeFact(d.create_time)),
        fact('Claimed', timeFact(d.claim_time)),
        fact('Started', timeFact(d.start_time)),
        fact('Ended', timeFact(d.end_time)),
        fact('Took', took(d) || '—'),
        d.restart_step ? fact('Restart step', d.restart_step) : null),
    ]);

    renderIf(part('params'), JSON.stringify(d.parameters), () => {
      const entries = Object.entries(d.parameters || {});
      return [h('h3', null, 'Parameters'),
        entries.length
          ? h('table', { class: 'kv' }, h('tbody', null, entries.map(([k, p]) => h('tr', null,
              h('td', null, k), h('td', { class: 'v' }, paramValue(p)),
              h('td', { class: 't' }, `${p.type}${p.identifying === false ? ', non-identifying' : ''}`)))))
          : h('p', { class: 'hint' }, 'none'),
        h('div', { class: 'actions below' },
          h('button', { type: 'button', class: 'small', onclick: () => openSubmit(d) }, 'Submit again…'))];
    });

    renderIf(part('steps'), JSON.stringify([d.steps, isRunning(d) ? Math.floor(Date.now() / 1000) : 0]), () => [
      h('h3', null, `Steps (${(d.steps || []).length})`),
      (d.steps || []).length ? d.steps.map(stepCard) : h('p', { class: 'hint' }, 'No step has started yet.'),
    ]);
  }

  // A labelled figure; numbers are shortened when large, with the exact value as the tooltip.
  function count(label, value, warn) {
    const isNum = typeof value === 'number';
    return h('div', { class: `count-cell ${warn ? 'warn' : ''}`, title: isNum ? `${label}: ${num(value)}` : null },
             h('span', { class: 'label' }, label), h('span', { class: 'value' }, isNum ? short(value) : value));
  }

  function fact(label, value) {
    return [h('dt', null, label), h('dd', null, value)];
  }

  function timeFact(ms) {
    if (!ms) return '—';
    return h('span', { title: iso(ms) }, `${clock(ms)} (${ago(ms)})`);
  }

  function stepCard(s) {
    const c = s.counts || {};
    const skips = (c.read_skip || 0) + (c.process_skip || 0) + (c.write_skip || 0);
    const ms = s.start_time ? (s.end_time || Date.now()) - s.start_time : 0;
    const avg = ms > 0 && c.read ? `${short(Math.round((c.read * 1000) / ms))}/s` : '—';
    const ctx = s.context && Object.keys(s.context).length ? JSON.stringify(s.context, null, 2) : '';
    const details = ctx ? h('details', { class: 'context', open: state.openContexts.has(s.id) },
                            h('summary', null, 'Context'), h('pre', { class: 'json' }, ctx)) : null;
    if (details) {
      details.addEventListener('toggle', () => {
        if (details.open) state.openContexts.add(s.id);
        else state.openContexts.delete(s.id);
      });
    }
    return h('div', { class: 'step', 'data-step': s.step },
      h('div', { class: 'step-head' }, h('span', { class: 'name' }, s.step), chip(s.status, `exit ${s.exit_code}`),
        h('span', { class: 'sub' }, ms ? duration(ms) : '')),
      h('div', { class: 'counts' },
        count('Read', c.read || 0), count('Written', c.write || 0), count('Filtered', c.filter || 0),
        h('div', { class: `count-cell ${skips ? 'warn' : ''}`, title: 'skipped in read / process / write' },
          h('span', { class: 'label' }, 'Skipped'), h('span', { class: 'value' }, short(skips),
            h('span', { class: 'split-note' }, `${num(c.read_skip)} · ${num(c.process_skip)} · ${num(c.write_skip)}`)))),
      h('div', { class: 'counts' },
        count('Commits', c.commit || 0), count('Rollbacks', c.rollback || 0, c.rollback > 0),
        count('Avg rate', avg), count('Took', ms ? duration(ms) : '—')),
      s.exit_description ? h('div', { class: s.status === 'FAILED' ? 'error-box' : 'note-box' }, s.exit_description) : null,
      details);
  }

  // ---------------------------------------------------------------- queues view

  async function refreshQueues() {
    const { data } = await api('GET', '/api/v1/queues?limit=500', undefined, { interactive: false });
    const list = data.queued || [];
    const now = Date.now();
    syncRows($('queue-table').tBodies[0], list, (e) => e.id, () => {
      const tr = h('tr', { class: 'clickable' });
      for (const cls of ['num pos', 'id', 'job', 'queue', 'num', 'time', 'actions']) tr.append(h('td', { class: cls }));
      tr.addEventListener('click', (ev) => { if (!ev.target.closest('button')) select(Number(tr.dataset.row)); });
      return tr;
    }, (tr, e) => {
      const [pos, id, job, queue, prio, waiting, actions] = tr.children;
      const position = String(list.indexOf(e) + 1);
      renderIf(pos, position, () => position);
      renderIf(id, String(e.id), () => String(e.id));
      const params = paramSummary(e.parameters);
      renderIf(job, e.job + params, () => [h('div', { class: 'job-name' }, e.job),
                                           params ? h('div', { class: 'params', title: params }, params) : null]);
      renderIf(queue, e.queue, () => h('span', { class: 'mono' }, e.queue));
      renderIf(prio, String(e.priority), () => String(e.priority));
      renderIf(waiting, duration(now - e.create_time), () => h('span', { title: iso(e.create_time) }, duration(now - e.create_time)));
      renderIf(actions, 'cancel', () => actionButtons(e, true));
    });
    $('queues-empty').hidden = list.length > 0;
    const byQueue = new Map();
    for (const e of list) byQueue.set(e.queue, (byQueue.get(e.queue) || 0) + 1);
    // A node with a queue list takes work only from those queues; say so where work waits elsewhere.
    const served = (state.status && state.status.queues) || [];
    const notServed = (q) => served.length > 0 && !served.includes(q);
    renderIf($('queue-summary'), JSON.stringify([...byQueue, served]), () => [...byQueue].map(([q, n]) =>
      h('div', { class: 'queue-card', title: notServed(q) ? 'this node does not take work from this queue' : null },
        h('div', { class: 'value' }, num(n)), h('div', { class: 'label' }, q),
        notServed(q) ? h('div', { class: 'hint' }, 'not served by this node') : null)));
    fill($('queues-note'), list.length ? 'In the order the node claims them: priority (higher first), then submission.' : '');
  }

  // ---------------------------------------------------------------- schedules view (docs/rest-api.md, schedules)

  async function probeSchedules() {
    try {
      await api('GET', '/api/v1/schedules', undefined, { interactive: false });
      state.schedulesAvailable = true;
    } catch (err) {
      // 404: this node has no scheduler; 401 and others: leave the view out rather than show an error.
      state.schedulesAvailable = false;
    }
    $('tab-schedules').hidden = !state.schedulesAvailable;
  }

  function triggerText(t) {
    if (!t) return '';
    if (t.kind === 'cron') return `cron ${t.cron}`;
    if (t.kind === 'interval') return `every ${t.every}`;
    if (t.kind === 'once') return `once at ${t.at}`;
    return JSON.stringify(t);
  }

  async function refreshSchedules() {
    let data;
    try {
      ({ data } = await api('GET', '/api/v1/schedules', undefined, { interactive: false }));
    } catch (err) {
      if (err.status === 404) {
        state.schedulesAvailable = false;
        $('tab-schedules').hidden = true;
        location.hash = '#/executions';
        return;
      }
      throw err;
    }
    const list = data.schedules || [];
    syncRows($('schedules-table').tBodies[0], list, (s) => s.name, () => {
      const tr = h('tr');
      for (const cls of ['name', 'trigger-cell', 'next', 'last', 'counts-cell', 'actions']) tr.append(h('td', { class: cls }));
      return tr;
    }, (tr, s) => {
      const [name, trig, next, last, counts, actions] = tr.children;
      const params = paramSummary(Object.fromEntries(Object.entries(s.parameters || {}).map(([k, v]) => [k, { value: v }])));
      renderIf(name, JSON.stringify([s.name, s.job, s.paused, s.pause_note, params, s.queue, s.priority]), () => [
        h('div', null, h('span', { class: 'job-name' }, s.name), ' ',
          s.paused ? h('span', { class: 'chip paused plain', title: s.pause_note || 'paused' }, 'PAUSED') : null),
        h('div', { class: 'sub' }, `${s.job} · ${s.queue || 'default'}${s.priority ? ` · p${s.priority}` : ''}`),
        params ? h('div', { class: 'params', title: params }, params) : null,
        s.paused && s.pause_note ? h('div', { class: 'sub' }, `note: ${s.pause_note}`) : null,
      ]);
      renderIf(trig, JSON.stringify([s.trigger, s.time_zone, s.overlap, s.misfire]), () => [
        h('div', { class: 'trigger' }, triggerText(s.trigger)),
        h('div', { class: 'sub' }, [s.time_zone, s.overlap && `overlap ${s.overlap}`].filter(Boolean).join(' · ')),
      ]);
      const nextMs = parseIso(s.next_fire_time);
      renderIf(next, JSON.stringify([s.next_fire_time, s.paused, Math.floor(Date.now() / 1000)]), () =>
        s.paused ? h('span', { class: 'sub' }, 'paused')
          : nextMs ? [h('div', { class: 'time' }, until(nextMs)), h('div', { class: 'sub', title: s.next_fire_time }, clock(nextMs))]
          : h('span', { class: 'sub' }, 'never again'));
      const lastMs = parseIso(s.last_fire_time);
      renderIf(last, JSON.stringify([s.last_fire_time, s.last_status, s.last_execution_id, Math.floor(Date.now() / 5000)]), () =>
        lastMs ? [
          h('div', { class: 'time', title: s.last_fire_time }, ago(lastMs)),
          s.last_execution_id ? h('a', { href: `#/executions/${Number(s.last_execution_id)}`, class: 'sub' },
            s.last_status ? chip(s.last_status) : null, ` #${Number(s.last_execution_id)}`) : null,
        ] : h('span', { class: 'sub' }, 'not yet'));
      renderIf(counts, JSON.stringify(s.counts || {}), () => {
        const c = s.counts || {};
        const extra = Object.entries(c).filter(([k, v]) => k !== 'fired' && v);
        return h('div', { class: 'counts-inline' },
          h('span', { class: 'chip plain', title: 'executions fired' }, `fired ${num(c.fired)}`),
          extra.map(([k, v]) => h('span', { class: 'chip plain', title: k }, `${k.replace(/_/g, ' ')} ${num(v)}`)));
      });
      renderIf(actions, String(s.paused), () => [
        h('button', { type: 'button', class: 'small', dataset: { op: s.paused ? 'resume' : 'pause' },
                      onclick: (ev) => scheduleOp(s.name, s.paused ? 'resume' : 'pause', ev.currentTarget) },
          s.paused ? 'Resume' : 'Pause'),
        h('button', { type: 'button', class: 'small', dataset: { op: 'trigger' }, title: 'Fire once now',
                      onclick: (ev) => scheduleOp(s.name, 'trigger', ev.currentTarget) }, 'Run now'),
      ]);
    });
    $('schedules-empty').hidden = list.length > 0;
    fill($('schedules-note'), list.length ? `${num(list.length)} schedules · times in your browser's time zone` : '');
  }

  async function scheduleOp(name, op, btn) {
    btn.disabled = true;
    const body = op === 'pause' ? { note: 'paused from the dashboard' } : op === 'resume' ? { catch_up: false } : {};
    try {
      const { data } = await api('POST', `/api/v1/schedules/${encodeURIComponent(name)}/${op}`, body);
      toast(op === 'trigger' ? `Schedule ${name} fired execution ${data.execution_id}.` : `Schedule ${name}: ${op}d.`);
    } catch (err) {
      toast(`${op} ${name}: ${err.message}`, 'error');
    } finally {
      btn.disabled = false;
      refreshNow();
    }
  }

  // ---------------------------------------------------------------- submit form

  const dialog = $('submit-dialog');

  function inputFor(p, preset) {
    const attrs = { id: `param-${p.name}`, name: p.name, autocomplete: 'off', spellcheck: 'false' };
    if (p.type === 'long') Object.assign(attrs, { type: 'number', step: '1', inputmode: 'numeric' });
    else if (p.type === 'double') Object.assign(attrs, { type: 'number', step: 'any', inputmode: 'decimal' });
    else attrs.type = 'text';
    if (p.type === 'date') attrs.placeholder = '2026-01-31 or 2026-01-31T08:00:00Z';
    if (p.default !== undefined && p.default !== '') attrs.placeholder = `default: ${p.default}`;
    if (p.required) attrs.required = true;
    const input = h('input', attrs);
    if (preset !== undefined) input.value = preset;
    return input;
  }

  function renderParamFields(job, presets = {}) {
    fill($('submit-job-description'), job ? job.description || '' : '');
    const params = job ? job.parameters || [] : [];
    $('submit-params').hidden = params.length === 0;
    // Required first, then in declaration order.
    const ordered = params.slice().sort((a, b) => Number(!!b.required) - Number(!!a.required));
    fill($('submit-param-fields'), ordered.map((p) => h('label', { class: 'field' },
      h('span', null, h('span', { class: 'name' }, p.name),
        h('span', { class: 'tags' }, h('span', { class: `tag ${p.required ? 'req' : ''}` }, p.required ? 'required' : 'optional'),
          h('span', { class: 'tag' }, p.type), p.identifying ? null : h('span', { class: 'tag' }, 'non-identifying'))),
      inputFor(p, presets[p.name]),
      p.description ? h('span', { class: 'hint' }, p.description) : null)));
  }

  async function openSubmit(from) {
    if (!state.jobs.length) {
      try { await loadJobs(); } catch (err) { toast(`Cannot load jobs: ${err.message}`, 'error'); return; }
    }
    const select = $('submit-job');
    fill(select, state.jobs.map((j) => h('option', { value: j.name }, j.name)));
    const name = from ? from.job : state.filters.job || select.value;
    select.value = name;
    const presets = {};
    if (from) for (const [k, p] of Object.entries(from.parameters || {})) presets[k] = paramValue(p);
    renderParamFields(state.jobs.find((j) => j.name === select.value), presets);
    $('submit-priority').value = from ? String(from.priority) : '0';
    $('submit-queue').value = from ? from.queue : 'default';
    fill($('queue-names'), [...state.queueNames].sort().map((q) => h('option', { value: q })));
    $('submit-error').hidden = true;
    dialog.showModal();
    const first = $('submit-param-fields').querySelector('input');
    (first || select).focus();
  }

  $('submit-open').addEventListener('click', () => openSubmit());
  $('submit-job').addEventListener('change', (ev) => {
    renderParamFields(state.jobs.find((j) => j.name === ev.target.value));
    $('submit-error').hidden = true;
  });
  for (const b of dialog.querySelectorAll('[data-close]')) b.addEventListener('click', () => dialog.close());

  function showFormError(message) {
    const el = $('submit-error');
    fill(el, message);
    el.hidden = false;
  }

  $('submit-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    for (const input of form.querySelectorAll('input')) input.classList.add('touched');
    const invalid = [...form.querySelectorAll('input')].find((i) => !i.checkValidity());
    if (invalid) {
      const label = invalid.name || invalid.id;
      showFormError(invalid.validity.valueMissing ? `'${label}' is required.` : `'${label}': ${invalid.validationMessage}`);
      invalid.focus();
      return;
    }
    const job = state.jobs.find((j) => j.name === $('submit-job').value);
    if (!job) return showFormError('Choose a job.');
    // Values go as strings; the node parses them by the parameter's declared type and names any error.
    const parameters = {};
    for (const p of job.parameters || []) {
      const v = $(`param-${p.name}`).value.trim();
      if (v !== '') parameters[p.name] = v;
    }
    const body = { job: job.name, parameters, priority: Number($('submit-priority').value || 0),
                   queue: $('submit-queue').value.trim() || 'default' };
    const send = $('submit-send');
    send.disabled = true;
    try {
      const { data } = await api('POST', '/api/v1/executions', body);
      dialog.close();
      state.queueNames.add(body.queue);
      toast(`Submitted ${job.name} as execution ${data.id}.`);
      if (state.view !== 'executions') location.hash = `#/executions/${data.id}`;
      else select(data.id);
    } catch (err) {
      showFormError(err.status ? `${err.message} (HTTP ${err.status}${err.code ? `, ${err.code}` : ''})` : err.message);
    } finally {
      send.disabled = false;
    }
  });

  // ---------------------------------------------------------------- start

  async function start() {
    updateTokenButton();
    await Promise.allSettled([loadJobs(), probeSchedules()]);
    route();
  }

  start();
})();
