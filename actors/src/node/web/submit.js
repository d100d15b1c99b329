// The jobs the node runs, and the submit form generated from their parameter specs.

import { $, h, fill, toast } from './dom.js';
import { api } from './api.js';
import { paramValue } from './format.js';
import { state, select } from './state.js';

export async function loadJobs() {
  const { data } = await api('GET', '/api/v1/jobs', undefined, { interactive: false });
  state.jobs = (data.jobs || []).slice().sort((a, b) => a.name.localeCompare(b.name));
  const filter = $('filter-job');
  const current = filter.value;
  fill(filter, h('option', { value: '' }, 'all jobs'), state.jobs.map((j) => h('option', { value: j.name }, j.name)));
  filter.value = current;
}

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

export async function openSubmit(from) {
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
