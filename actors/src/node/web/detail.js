// The detail panel of one execution: status and error, live progress, times, parameters and steps.

import { $, h, fill, renderIf, toast } from './dom.js';
import { api } from './api.js';
import { num, short, duration, ago, clock, iso, paramValue, isRunning, shownStatus, chip, statusChip, took } from './format.js';
import { state, select } from './state.js';
import { actionButtons } from './operations.js';
import { progressBar } from './executions.js';
import { openSubmit } from './submit.js';

export async function refreshDetail() {
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

export function closeDetail(navigate = true) {
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

  renderIf(part('facts'), JSON.stringify([d.queue, d.priority, d.node, d.not_before, d.create_time, d.claim_time, d.start_time,
                                           d.end_time, isRunning(d) ? Math.floor(Date.now() / 1000) : 0]), () => [
    h('h3', null, 'Execution'),
    h('dl', { class: 'facts' },
      fact('Queue', `${d.queue} (priority ${d.priority})`),
      fact('Node', d.node || 'not claimed yet'),
      d.not_before ? fact('Not before', timeFact(d.not_before)) : null,
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
