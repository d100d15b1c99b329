// Formatting of numbers, times, parameters and statuses, shared by every view.

import { h } from './dom.js';

const nf = new Intl.NumberFormat();
export const num = (n) => nf.format(Number(n) || 0);
const cf = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 2 });
// For the small count cells: 3,630,000 reads as 3.63M; the exact figure is in the tooltip.
export const short = (n) => (Math.abs(Number(n) || 0) >= 1e6 ? cf.format(Number(n)) : num(n));

export function duration(ms) {
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

export function ago(ms) {
  if (!ms) return '';
  const d = Date.now() - ms;
  if (d < 0) return `in ${duration(-d)}`;
  if (d < 5000) return 'just now';
  return `${duration(d)} ago`;
}

export function until(ms) {
  const d = ms - Date.now();
  if (d <= 0) return d > -5000 ? 'now' : `${duration(-d)} ago`;
  return `in ${duration(d)}`;
}

export function clock(ms) {
  if (!ms) return '';
  const d = new Date(ms);
  const sameDay = d.toDateString() === new Date().toDateString();
  return sameDay ? d.toLocaleTimeString() : d.toLocaleString();
}

export const iso = (ms) => (ms ? new Date(ms).toISOString() : '');
export const parseIso = (s) => (s ? Date.parse(s) : 0);

export function timeCell(ms) {
  if (!ms) return h('span', { class: 'sub' }, '—');
  return h('span', { class: 'time', title: iso(ms) }, ago(ms));
}

export function paramValue(p) {
  if (p && typeof p === 'object' && 'value' in p) {
    if (p.type === 'date' && typeof p.value === 'number') return iso(p.value);
    return String(p.value);
  }
  return String(p);
}

// Identifying parameters first: they tell instances apart; the rest are often defaults.
export function paramSummary(params) {
  return Object.entries(params || {})
    .sort(([, a], [, b]) => Number(!!(b && b.identifying !== false)) - Number(!!(a && a.identifying !== false)))
    .map(([k, p]) => `${p && p.identifying === false ? '-' : ''}${k}=${paramValue(p)}`)
    .join(' ');
}

// A queued execution is STARTING with no node yet; the CLI shows it as QUEUED too.
export const isQueued = (e) => e.status === 'STARTING' && !e.node;
export const shownStatus = (e) => (isQueued(e) ? 'QUEUED' : e.status);
export const isRunning = (e) => ['STARTING', 'STARTED', 'STOPPING'].includes(e.status) && !isQueued(e);

export function chip(status, title) {
  return h('span', { class: `chip s-${status}`, title }, status);
}

// A schedule's firing recorded ahead of its slot: queued, but no node claims it before not_before.
export const notBefore = (e) => (isQueued(e) && e.not_before > Date.now() ? e.not_before : 0);

export function statusChip(e) {
  const nb = notBefore(e);
  const title = isQueued(e)
    ? `STARTING: waiting in queue '${e.queue}'${nb ? `, not before ${new Date(nb).toISOString()} (fired ahead of its slot)` : ''}`
    : `exit ${e.exit_code}`;
  return chip(shownStatus(e), title);
}

export function took(e) {
  if (!e.start_time) return '';
  return duration((e.end_time || Date.now()) - e.start_time);
}
