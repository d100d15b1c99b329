// The queues view: what waits to be claimed, in claim order, with a count per queue.

import { $, h, fill, renderIf, syncRows } from './dom.js';
import { api } from './api.js';
import { num, duration, iso, paramSummary, notBefore } from './format.js';
import { state, select } from './state.js';
import { actionButtons } from './operations.js';

export async function refreshQueues() {
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
    // Fired ahead of its slot: it waits for not_before, and says so.
    const nb = notBefore(e);
    const waited = nb ? `not before ${iso(nb)}` : duration(now - e.create_time);
    renderIf(waiting, waited, () => h('span', { title: `created ${iso(e.create_time)}` }, waited));
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
