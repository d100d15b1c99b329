// The header: the node's name, version, uptime, running out of capacity, queued, served queues, and
// whether the page reaches the node at all.

import { $, h, fill, renderIf } from './dom.js';
import { api } from './api.js';
import { num, duration } from './format.js';
import { state } from './state.js';

export async function refreshStatus() {
  const { data: s } = await api('GET', '/api/v1/status', undefined, { interactive: false });
  state.status = s;
  for (const q of s.queues || []) state.queueNames.add(q);
  fill($('node-name'), s.node);
  document.title = `${s.running ? `(${s.running} running) ` : ''}Kiln · ${s.node}`;
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

export function setConnection(ok, err) {
  const conn = $('conn');
  conn.className = `conn ${ok ? 'live' : 'down'}`;
  conn.title = ok ? 'live: refreshing every second' : `cannot reach the node: ${err ? err.message : ''}`;
  const banner = $('offline-banner');
  banner.hidden = ok;
  if (!ok) fill(banner, `Cannot reach the node (${err ? err.message : 'no answer'}). Retrying; what you see may be out of date.`);
}
