// Kiln dashboard: one page over the node's REST API (docs/rest-api.md), no framework, no build step.
// This module routes between the views and polls the node; each view lives in its own module.

import { $ } from './dom.js';
import { ApiError, onTokenAccepted, updateTokenButton } from './api.js';
import { state, hooks } from './state.js';
import { refreshStatus, setConnection } from './status.js';
import { refreshExecutions } from './executions.js';
import { refreshDetail, closeDetail } from './detail.js';
import { refreshQueues } from './queues.js';
import { probeSchedules, refreshSchedules } from './schedules.js';
import { loadJobs } from './submit.js';

const POLL_MS = 1000;
const HIDDEN_POLL_MS = 5000;

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

window.addEventListener('hashchange', route);
document.addEventListener('keydown', (ev) => {
  if (ev.key === 'Escape' && state.selected && !document.querySelector('dialog[open]')) closeDetail();
});

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

hooks.refresh = () => tick();
const refreshNow = hooks.refresh;
document.addEventListener('visibilitychange', () => { if (!document.hidden) refreshNow(); });

onTokenAccepted(() => {
  if (!state.schedulesAvailable) probeSchedules().then(route);
  if (!state.jobs.length) loadJobs().catch(() => {});
});

async function start() {
  updateTokenButton();
  await Promise.allSettled([loadJobs(), probeSchedules()]);
  route();
}

start();
