// What the page shows: the view, the selected execution, the filters and what it learned from the node.

export const PAGE = 50;
export const MAX_LIMIT = 1000;

export const state = {
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

// The URL says which execution is selected, so a link or reload shows the same one.
export function select(id) {
  location.hash = id ? `#/executions/${id}` : '#/executions';
}

// app.js sets the poll; views ask for a refresh right after a change instead of waiting a second.
export const hooks = { refresh: () => {} };
export const refreshNow = () => hooks.refresh();
