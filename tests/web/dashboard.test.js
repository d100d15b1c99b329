// End-to-end test of the dashboard: a real `kiln node` on a free 127.0.0.1 port with a fresh data
// directory and a token, driven through the page in headless Chromium (Debian's /usr/bin/chromium).
//
//   node tests/web/dashboard.test.js            (CTest passes the rest through the environment)
//   KILN_BINARY   the kiln executable (required)
//   KILN_WEB_OUT  where the screenshots go (default: the current directory)
//   CHROMIUM      the browser (default /usr/bin/chromium)
//
// Exits 0 when every check passes; otherwise prints what failed, saves dashboard-failure.png and exits 1.
'use strict';

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

let chromium;
try {
  ({ chromium } = require('playwright-core'));
} catch {
  console.error('playwright-core is not installed in tests/web; run scripts/install-web-test-deps.sh');
  process.exit(1);
}

const KILN = process.env.KILN_BINARY || process.argv[2];
const OUT = process.env.KILN_WEB_OUT || process.cwd();
const BROWSER = process.env.CHROMIUM || '/usr/bin/chromium';
const TOKEN = 'web-test-token';
const TEST_BUDGET_MS = 90_000;

if (!KILN || !fs.existsSync(KILN)) {
  console.error(`set KILN_BINARY to the kiln executable (got '${KILN || ''}')`);
  process.exit(1);
}
if (!fs.existsSync(BROWSER)) {
  console.error(`no browser at ${BROWSER}; run scripts/install-web-test-deps.sh (it installs Debian's chromium)`);
  process.exit(1);
}

const log = (...a) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);
const t0 = Date.now();

// ------------------------------------------------------------------ the node

function startNode(dataDir, listen = '127.0.0.1:0') {
  const args = ['node', '--listen', listen, '--data-dir', dataDir, '--token', TOKEN,
                '--max-concurrent-jobs', '3', '--queues', 'default'];
  const child = spawn(KILN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const url = new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`kiln node exited with ${code} before listening:\n${stderr}`)));
    setTimeout(() => reject(new Error(`kiln node did not print 'listening on' within 10 s:\n${stderr}`)), 10_000);
  });
  return { child, url, stderr: () => stderr };
}

async function stopNode(child) {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

// The REST API straight from the test, for set-up and to check what the page shows.
async function rest(base, method, p, body) {
  const res = await fetch(base + p, {
    method,
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

// ------------------------------------------------------------------ page helpers

const row = (id) => `#executions-table tr[data-row="${id}"]`;

async function waitStatus(page, id, status, timeout = 15_000) {
  await page.waitForSelector(`${row(id)}[data-status="${status}"]`, { timeout });
}

async function selectedId(page) {
  await page.waitForFunction(() => /^#\/executions\/\d+$/.test(location.hash), null, { timeout: 5000 });
  return Number((await page.evaluate(() => location.hash)).split('/').pop());
}

async function submitFromPage(page, job, params, { expectTokenPrompt = false } = {}) {
  const before = await page.evaluate(() => location.hash);
  await page.click('#submit-open');
  await page.waitForSelector('#submit-dialog[open]');
  await page.selectOption('#submit-job', job);
  for (const [name, value] of Object.entries(params)) await page.fill(`#param-${name}`, String(value));
  await page.click('#submit-send');
  if (expectTokenPrompt) {
    // The node has a token: the POST gets 401 and the page asks for it once.
    await page.waitForSelector('#token-dialog[open]', { timeout: 5000 });
    await page.fill('#token-input', TOKEN);
    await page.click('#token-save');
  }
  await page.waitForSelector('#submit-dialog', { state: 'hidden', timeout: 5000 });
  await page.waitForFunction((b) => location.hash !== b, before, { timeout: 5000 });
  return selectedId(page);
}

// ------------------------------------------------------------------ the test

const problems = [];   // script errors in the page; printed when a check fails

async function run(page, base) {
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    // 401 (before the token) and 404 (/api/v1/schedules without a scheduler) are expected answers.
    if (msg.type() === 'error' && !/Failed to load resource/.test(msg.text())) problems.push(`console: ${msg.text()}`);
  });

  await page.goto(base + '/');
  const status = (await rest(base, 'GET', '/api/v1/status')).body;
  await page.waitForFunction((v) => document.getElementById('node-status').textContent.includes(v), status.version);
  const header = await page.textContent('#node-status');
  assert.match(header, /Uptime/);
  assert.match(header, /0 \/ 3/, `header shows running / capacity: ${header}`);
  assert.equal((await page.textContent('#node-name')).trim(), status.node);
  log('header:', header.replace(/\s+/g, ' ').trim());

  // Schedules: shown when the node has the endpoint, hidden when it answers 404.
  const schedules = await rest(base, 'GET', '/api/v1/schedules');
  await page.waitForTimeout(300);
  const tabHidden = await page.$eval('#tab-schedules', (el) => el.hidden);
  assert.equal(tabHidden, schedules.status === 404, `schedules tab hidden=${tabHidden}, endpoint ${schedules.status}`);
  log(`schedules endpoint ${schedules.status}: tab ${tabHidden ? 'hidden' : 'shown'}`);

  // 1. A short job, submitted through the form (which asks for the token), runs to COMPLETED.
  const short = await submitFromPage(page, 'sleep', { ms: 1500, tag: 'short' }, { expectTokenPrompt: true });
  log('submitted short sleep as execution', short);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('kiln.token')), TOKEN);
  await page.waitForSelector(row(short));
  await waitStatus(page, short, 'COMPLETED');
  assert.equal((await page.textContent(`${row(short)} .chip`)).trim(), 'COMPLETED');
  log('execution', short, 'COMPLETED in the table');

  // 2. A longer one shows live progress; Stop in the detail panel ends it STOPPED.
  const long = await submitFromPage(page, 'sleep', { ms: 6000, tag: 'long' });
  log('submitted long sleep as execution', long);
  await waitStatus(page, long, 'STARTED');
  await page.waitForSelector(`${row(long)} .progress .bar`);
  await page.waitForSelector('#detail [data-part="live"]:not([hidden]) .bar');
  // Let it commit a few 50 ms ticks so there is a checkpoint to resume from.
  await page.waitForFunction(() => {
    const cells = [...document.querySelectorAll('#detail [data-part="live"] .count-cell')];
    const commits = cells.find((c) => c.querySelector('.label').textContent === 'Commits');
    return commits && Number(commits.querySelector('.value').textContent.replace(/\D/g, '')) >= 6;
  }, null, { timeout: 10_000 });
  await page.click('#detail button[data-op="stop"]');
  await waitStatus(page, long, 'STOPPED');
  await page.waitForSelector('#detail [data-part="state"] .chip.s-STOPPED');
  const stoppedNote = await page.textContent('#detail [data-role="error"]');
  assert.match(stoppedNote, /stopped/i);
  const stoppedDetail = (await rest(base, 'GET', `/api/v1/executions/${long}`)).body;
  const sleptBefore = stoppedDetail.steps[0].context.slept_ms;
  assert.ok(sleptBefore > 0 && sleptBefore < 6000, `stopped part way: slept_ms=${sleptBefore}`);
  log('execution', long, 'STOPPED from the page after', sleptBefore, 'ms');

  // 3. Restart from the detail panel: a new execution resumes from the checkpoint and completes.
  await page.click('#detail button[data-op="restart"]');
  await page.waitForFunction((id) => location.hash !== `#/executions/${id}`, long);
  const restarted = await selectedId(page);
  assert.ok(restarted > long, `restart selects the new execution (${restarted})`);
  await waitStatus(page, restarted, 'COMPLETED', 15_000);
  log('restart', restarted, 'COMPLETED');

  // 4. The detail panel shows its step with counts and the context it resumed from and finished with.
  await page.waitForSelector('#detail [data-part="state"] .chip.s-COMPLETED');
  await page.waitForSelector('#detail [data-step="sleep"] .chip.s-COMPLETED');
  const stepText = await page.textContent('#detail [data-step="sleep"]');
  assert.match(stepText, /Commits/);
  assert.match(stepText, /Rollbacks/);
  const detail = (await rest(base, 'GET', `/api/v1/executions/${restarted}`)).body;
  const commits = detail.steps[0].counts.commit;
  const shownCommits = await page.$eval('#detail [data-step="sleep"]', (el) => {
    const c = [...el.querySelectorAll('.count-cell')].find((x) => x.querySelector('.label').textContent === 'Commits');
    return Number(c.querySelector('.value').textContent.replace(/\D/g, ''));
  });
  assert.equal(shownCommits, commits, 'the commits the page shows are the step\'s');
  assert.ok(commits < 120, `the restart resumed from the checkpoint (${commits} commits of 50 ms, not 120)`);
  await page.click('#detail [data-step="sleep"] details.context summary');
  assert.match(await page.textContent('#detail [data-step="sleep"] pre.json'), /"slept_ms": 6000/);
  assert.match(await page.textContent('#detail [data-part="params"]'), /long/);
  log('detail shows step sleep with', commits, 'commits and its context');

  // 5. Filters: only STOPPED, then only another job.
  await page.selectOption('#filter-status', 'STOPPED');
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('#executions-table tbody tr')];
    return rows.length > 0 && rows.every((r) => r.dataset.status === 'STOPPED');
  });
  assert.deepEqual(await page.$$eval('#executions-table tbody tr', (rs) => rs.map((r) => Number(r.dataset.row))), [long]);
  await page.selectOption('#filter-status', '');
  await page.selectOption('#filter-job', 'noop');
  await page.waitForSelector('#executions-empty:not([hidden])');
  await page.selectOption('#filter-job', '');
  await page.waitForSelector(row(short));
  log('filters by status and job');

  // 6. Queue view: work for a queue this node does not serve waits; Cancel takes it out.
  const queued = (await rest(base, 'POST', '/api/v1/executions',
                             { job: 'sleep', parameters: { ms: 10, tag: 'later' }, queue: 'overnight', priority: 4 })).body;
  await page.click('a[data-view="queues"]');
  await page.waitForSelector(`#queue-table tr[data-row="${queued.id}"]`);
  assert.match(await page.textContent(`#queue-table tr[data-row="${queued.id}"]`), /overnight/);
  assert.match(await page.textContent('#queue-summary'), /overnight/);
  assert.equal((await page.textContent('#queue-count')).trim(), '1');
  await page.click(`#queue-table tr[data-row="${queued.id}"] button[data-op="cancel"]`);
  await page.waitForSelector('#queues-empty:not([hidden])');
  const cancelled = (await rest(base, 'GET', `/api/v1/executions/${queued.id}`)).body;
  assert.equal(cancelled.exit_code, 'CANCELLED');
  log('queue view: execution', queued.id, 'cancelled from the page');
  await page.click('a[data-view="executions"]');

  // 7. Kill from the table (it asks for a second click), then abandon from the detail panel.
  const victim = (await rest(base, 'POST', '/api/v1/executions', { job: 'sleep', parameters: { ms: 30000, tag: 'kill-me' } })).body;
  await waitStatus(page, victim.id, 'STARTED');
  await page.click(`${row(victim.id)} button[data-op="kill"]`);
  await page.waitForSelector(`${row(victim.id)} button[data-op="kill"].confirming`);
  assert.equal((await rest(base, 'GET', `/api/v1/executions/${victim.id}`)).body.status, 'STARTED', 'one click does not kill');
  await page.click(`${row(victim.id)} button[data-op="kill"]`);
  await waitStatus(page, victim.id, 'FAILED');
  assert.match(await page.textContent(`${row(victim.id)} .exit-note`), /KILLED/);
  await page.click(`${row(victim.id)} td.job`);
  await page.waitForSelector(`#detail[data-id="${victim.id}"] button[data-op="abandon"]`);
  await page.click('#detail button[data-op="abandon"]');
  await page.click('#detail button[data-op="abandon"].confirming');
  await waitStatus(page, victim.id, 'ABANDONED');
  log('execution', victim.id, 'killed from the table and abandoned from the detail panel');

  // 8. Data is shown as text, never run as markup.
  const xss = '<img src=x onerror="window.__kiln_xss=1">';
  const evil = (await rest(base, 'POST', '/api/v1/executions', { job: 'sleep', parameters: { ms: 10, tag: xss } })).body;
  await waitStatus(page, evil.id, 'COMPLETED');
  assert.ok((await page.textContent(`${row(evil.id)} .params`)).includes(xss));
  assert.equal(await page.evaluate(() => window.__kiln_xss), undefined);
  assert.equal(await page.$$eval('#executions-table img', (x) => x.length), 0);
  log('user data is escaped');

  // 9. A bad submission shows the node's message in the form and queues nothing.
  await page.click('#submit-open');
  await page.selectOption('#submit-job', 'sleep');
  await page.fill('#param-ms', '1500');
  await page.fill('#param-tag', 'short');
  await page.click('#submit-send');
  await page.waitForSelector('#submit-error:not([hidden])');
  assert.match(await page.textContent('#submit-error'), /already ran to COMPLETED/);
  await page.click('#submit-dialog [data-close]');
  log('a refused submission shows the node\'s error');

  // 10. Schedules (docs/rest-api.md, when this node has the schedule API): pause and resume from the page.
  if (schedules.status !== 404) {
    const created = await rest(base, 'POST', '/api/v1/schedules',
                               { name: 'web-test', job: 'sleep', trigger: { every: '1h' }, parameters: { ms: 10, tag: 'sched' } });
    assert.equal(created.status, 201, `schedule created: ${JSON.stringify(created.body)}`);
    await page.click('a[data-view="schedules"]');
    const srow = '#schedules-table tr[data-row="web-test"]';
    await page.waitForSelector(srow);
    assert.match(await page.textContent(`${srow} td.trigger-cell`), /every/);
    assert.match(await page.textContent(`${srow} td.name`), /sleep/);
    await page.click(`${srow} button[data-op="pause"]`);
    await page.waitForSelector(`${srow} .chip.paused`);
    assert.equal((await rest(base, 'GET', '/api/v1/schedules/web-test')).body.paused, true);
    await page.click(`${srow} button[data-op="resume"]`);
    await page.waitForSelector(`${srow} .chip.paused`, { state: 'detached' });
    assert.equal((await rest(base, 'GET', '/api/v1/schedules/web-test')).body.paused, false);
    await rest(base, 'DELETE', '/api/v1/schedules/web-test');
    await page.waitForSelector(srow, { state: 'detached' });
    await page.click('a[data-view="executions"]');
    log('schedule paused and resumed from the page');
  }

  // Screenshots for the docs: a running job with live progress next to a finished one's detail.
  const csv = (await rest(base, 'POST', '/api/v1/executions', { job: 'generate-csv',
    parameters: { output: path.join(os.tmpdir(), `kiln-web-${process.pid}.csv`), rows: 20_000_000 }, priority: 2 })).body;
  await rest(base, 'POST', '/api/v1/executions', { job: 'sleep', parameters: { ms: 60000, tag: 'nightly-report' } });
  await page.click(`${row(csv.id)} td.job`);
  await page.waitForSelector(`#detail[data-id="${csv.id}"] [data-step="generate"]`);
  // For the picture only: a throughput figure in the table (on a slow machine it may not show up).
  await page.waitForFunction(() => [...document.querySelectorAll('#executions-table .progress .rate')]
    .some((r) => r.textContent.includes('items/s')), null, { timeout: 5000 }).catch(() => {});
  await page.setViewportSize({ width: 1440, height: 860 });
  await page.evaluate(() => document.getElementById('toasts').replaceChildren());
  await page.waitForTimeout(300);
  await page.screenshot({ path: path.join(OUT, 'dashboard.png') });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.waitForTimeout(200);
  await page.screenshot({ path: path.join(OUT, 'dashboard-dark.png') });
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize({ width: 420, height: 860 });
  await page.waitForTimeout(200);
  await page.screenshot({ path: path.join(OUT, 'dashboard-narrow.png'), fullPage: false });
  log('screenshots in', OUT);
  for (const e of (await rest(base, 'GET', '/api/v1/executions?status=STARTED')).body.executions) {
    await rest(base, 'POST', `/api/v1/executions/${e.id}/kill`);
  }

  assert.deepEqual(problems, [], 'no script errors in the page');
}

// Off loopback every API call needs the token, so the page asks as soon as it loads; a wrong
// token is refused and asked for again, the right one loads everything.
async function checkOffLoopback(browser) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-web-'));
  const node = startNode(dataDir, '0.0.0.0:0');
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  try {
    const base = (await node.url).replace('0.0.0.0', '127.0.0.1');
    const page = await context.newPage();
    await page.goto(base + '/');
    await page.waitForSelector('#token-dialog[open]');
    await page.fill('#token-input', 'not-the-token');
    await page.click('#token-save');
    await page.waitForFunction(() => /refused/.test(document.getElementById('token-reason').textContent));
    assert.equal(await page.$eval('#token-dialog', (d) => d.open), true);
    await page.fill('#token-input', TOKEN);
    await page.click('#token-save');
    await page.waitForSelector('#token-dialog', { state: 'hidden' });
    await page.waitForSelector('#executions-empty:not([hidden])');
    assert.ok((await page.$$eval('#filter-job option', (o) => o.length)) > 1, 'the jobs loaded after the token');
    assert.match(await page.textContent('#node-status'), /Uptime/);
    log('off loopback: the page asked for the token, refused a wrong one, loaded with the right one');

    // Pages of 50: "Load older" shows the rest and goes away when there is nothing more.
    for (let i = 0; i < 55; i++) {
      const r = await rest(base, 'POST', '/api/v1/executions', { job: 'sleep', parameters: { ms: 1, tag: `page-${i}` } });
      assert.equal(r.status, 201);
    }
    const rows = () => page.$$eval('#executions-table tbody tr', (r) => r.length);
    await page.waitForFunction(() => document.querySelectorAll('#executions-table tbody tr').length === 50);
    await page.waitForSelector('#load-more', { state: 'visible' });
    await page.click('#load-more');
    await page.waitForFunction(() => document.querySelectorAll('#executions-table tbody tr').length === 55);
    await page.waitForSelector('#load-more', { state: 'hidden' });
    assert.equal(await rows(), 55);
    log('pagination: 50 rows, then all 55 after "Load older"');
  } finally {
    await context.close();
    await stopNode(node.child);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

// When the node goes away, the page says so instead of showing stale numbers as live.
async function checkOffline(page, child) {
  await stopNode(child);
  await page.waitForSelector('#offline-banner', { state: 'visible', timeout: 8000 });
  assert.match(await page.textContent('#offline-banner'), /Cannot reach the node/);
  assert.equal(await page.$eval('#conn', (el) => el.classList.contains('down')), true);
  log('node stopped: the page shows it is offline');
}

async function main() {
  fs.rmSync(path.join(OUT, 'dashboard-failure.png'), { force: true });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-web-'));
  const node = startNode(dataDir);
  let browser;
  let page;
  const budget = setTimeout(() => {
    console.error(`FAIL: the test took longer than ${TEST_BUDGET_MS / 1000} s`);
    node.child.kill('SIGKILL');
    process.exit(1);
  }, TEST_BUDGET_MS);
  let failed = false;
  try {
    const base = await node.url;
    log('kiln node at', base);
    browser = await chromium.launch({
      executablePath: BROWSER,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, colorScheme: 'light' });
    page = await context.newPage();
    page.setDefaultTimeout(10_000);
    await run(page, base);
    await checkOffline(page, node.child);
    await checkOffLoopback(browser);
    log('PASS');
  } catch (err) {
    failed = true;
    console.error('FAIL:', err && err.stack ? err.stack : err);
    if (problems.length) console.error('--- page errors ---\n' + problems.join('\n'));
    if (page) await page.screenshot({ path: path.join(OUT, 'dashboard-failure.png') }).catch(() => {});
    console.error('--- kiln node stderr ---\n' + node.stderr());
  } finally {
    if (browser) await browser.close().catch(() => {});
    await stopNode(node.child);
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(path.join(os.tmpdir(), `kiln-web-${process.pid}.csv`), { force: true });
    clearTimeout(budget);
  }
  process.exit(failed ? 1 : 0);
}

main();
