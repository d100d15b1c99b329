// The schedules view, against the schedule API (GET /api/v1/schedules and its operations). A node
// without it answers 404 and the view stays hidden.

import { $, h, fill, renderIf, syncRows, toast } from './dom.js';
import { api } from './api.js';
import { num, ago, until, clock, parseIso, paramSummary, chip } from './format.js';
import { state, refreshNow } from './state.js';

export async function probeSchedules() {
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

export async function refreshSchedules() {
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
    // A slot fired ahead (still the next fire time) has its execution queued already, waiting for it.
    const ahead = (s.fired_ahead || []).map((a) => h('div', { class: 'sub', title: `execution #${a.execution_id} is queued and not claimed before ${a.not_before}` },
      `fired ahead: #${a.execution_id} queued until ${clock(parseIso(a.slot))}`));
    renderIf(next, JSON.stringify([s.next_fire_time, s.paused, s.fired_ahead, Math.floor(Date.now() / 1000)]), () =>
      s.paused ? h('span', { class: 'sub' }, 'paused')
        : nextMs ? [h('div', { class: 'time' }, until(nextMs)), h('div', { class: 'sub', title: s.next_fire_time }, clock(nextMs)), ...ahead]
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
