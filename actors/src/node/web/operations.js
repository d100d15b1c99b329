// Stop, kill, cancel, restart and abandon: the buttons offered for an execution's status, and the calls.

import { h, fill, toast } from './dom.js';
import { api } from './api.js';
import { isQueued, isRunning, shownStatus } from './format.js';
import { state, select, refreshNow } from './state.js';

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

export function actionButtons(e, small) {
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
