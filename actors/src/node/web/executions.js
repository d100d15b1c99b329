// The executions table: newest first, filtered, live progress and throughput while they run.

import { $, h, fill, renderIf, syncRows } from './dom.js';
import { api } from './api.js';
import { num, duration, timeCell, paramSummary, isQueued, isRunning, shownStatus, statusChip, took } from './format.js';
import { state, select, refreshNow, PAGE, MAX_LIMIT } from './state.js';
import { actionButtons } from './operations.js';

export async function refreshExecutions() {
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

export function progressBar(e) {
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

export function rate(p) {
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
