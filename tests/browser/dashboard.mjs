// Drives the dashboard in headless Chromium: sign-in, the at-risk list
// (loads, filters by colour, sorts server-side), an account page with its
// charts, the retention and score-quality pages, and an alert acknowledged
// that stays acknowledged after a reload. Any console error, page error or
// failed request fails the test. Screenshots go to ARTIFACTS.
// Then opens the `report html` file from disk with the network blocked.
// The world is the real pipeline's (tests/serve/world.py); EXPECT_JSON holds
// the values `world.py expect` worked out from the simulated CSV files and
// the database (accounts, as-of day, red count, the riskiest account, its
// first driver and users, the active model, each backtest's AUC).
// usage: node dashboard.mjs URL READ_TOKEN WRITE_TOKEN CHROMIUM ARTIFACTS REPORT_HTML EXPECT_JSON
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';

// Charts are drawn one after another as their data arrives: wait (bounded)
// until at least n are on the page, then count them.
async function chartsDrawn(pg, n) {
  await pg.waitForFunction((k) => document.querySelectorAll('figure.chart canvas').length >= k, n,
    { timeout: 15000 }).catch(() => {});
  return pg.$$eval('figure.chart canvas', (c) => c.length);
}


const require = createRequire(path.join(process.env.NODE_PATH, 'x.js'));
const { chromium } = require('playwright-core');
const [url, readToken, writeToken, executablePath, artifacts, reportFile, expectFile] = process.argv.slice(2);
const E = JSON.parse(readFileSync(expectFile, 'utf8'));
const fmt3 = new Intl.NumberFormat('en', { maximumFractionDigits: 3 });

let browser;
try {
  browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
} catch (e) {
  console.log(`SKIP: chromium cannot start: ${e.message.split('\n')[0]}`);
  process.exit(77);
}

const problems = [];
let checks = 0;
function check(cond, what) {
  checks++;
  if (!cond) { problems.push(what); console.log(`FAIL: ${what}`); }
}

// expected: a 401 this page is meant to meet (an expired session), which
// Chromium also logs as a console error; anything else is a problem.
async function newPage(expected = null) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const allowed = (text) => expected && expected.test(text);
  page.on('console', (m) => { if (m.type() === 'error' && !(allowed(m.text()) && expected.seen.push(m.text()))) problems.push(`console error: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure() && r.failure().errorText}`));
  page.on('response', (r) => { if (r.status() >= 400 && !allowed(`${r.status()} ${r.url()}`)) problems.push(`HTTP ${r.status()} for ${r.url()}`); });
  return page;
}

// The advanced sign-in: an API token.
async function signIn(page, token) {
  await page.goto(url + '/');
  await page.waitForSelector('form.login');
  await page.click('details.advanced summary');
  await page.fill('#token', token);
  await page.click('form.token-login button[type=submit]');
  await page.waitForSelector('#at-risk tbody tr');
}

// A named user's sign-in: name (or e-mail) and password.
async function signInAs(page, name, password) {
  await page.goto(url + '/');
  await page.waitForSelector('form.login');
  await page.fill('#login-name', name);
  await page.fill('#login-password', password);
  await page.click('form.login button[type=submit]');
  await page.waitForSelector('#at-risk tbody tr');
}

try {
  // ---- at risk: loads, filters, sorts -------------------------------------------
  const page = await newPage();
  await signIn(page, readToken);
  const rows = await page.$$eval('#at-risk tbody tr', (trs) => trs.length);
  check(rows === 50, `at-risk list shows a page of 50 rows (got ${rows})`);
  const status = await page.textContent('#list-status');
  check(status.startsWith(`${E.accounts} accounts as of ${E.as_of}`), `list status: ${status} (want ${E.accounts} accounts as of ${E.as_of})`);
  const firstHref = await page.getAttribute('#at-risk tbody tr:first-child td:first-child a', 'href');
  check(firstHref === `#/account/${E.top_account}`, `riskiest account first: ${firstHref} (want ${E.top_account})`);
  // Flagged badges: the riskiest 10% of the active model's latest predictions.
  const badges = await page.$$eval('#at-risk tbody tr', (trs) => trs.map((tr) => [tr.querySelector('td:first-child a').getAttribute('href').replace('#/account/', ''), tr.querySelector('.badge.flag') !== null]));
  const want = new Set(E.flagged);
  const wrong = badges.filter(([id, f]) => f !== want.has(decodeURIComponent(id)));
  check(E.flagged.length > 0 && wrong.length === 0, `flagged badges match the ceil(10%) riskiest (${E.flagged.length} flagged; wrong: ${wrong.map((w) => w[0]).slice(0, 5)})`);
  await page.screenshot({ path: path.join(artifacts, 'at-risk.png'), fullPage: true });
  await page.selectOption('select[name=colour]', 'red');
  await page.waitForFunction(() => {
    const trs = [...document.querySelectorAll('#at-risk tbody tr')];
    return trs.length > 0 && trs.every((tr) => tr.dataset.colour === 'red');
  });
  const redStatus = await page.textContent('#list-status');
  const redCount = Number(redStatus.split(' ')[0]);
  const redOption = await page.textContent('select[name=colour] option[value=red]');
  check(redOption.includes(`(${redCount})`), `red filter count ${redCount} matches the facet "${redOption}"`);
  check(redCount === E.red, `red accounts ${redCount}, in the scores table ${E.red}`);
  await page.screenshot({ path: path.join(artifacts, 'at-risk-red.png'), fullPage: true });
  await page.selectOption('select[name=sort]', 'name');
  await page.waitForFunction(() => {
    const names = [...document.querySelectorAll('#at-risk tbody tr td:first-child a')].map((a) => a.textContent);
    return names.length > 1 && names.every((n, i) => i === 0 || names[i - 1].localeCompare(n, 'en', { sensitivity: 'base' }) <= 0 || names[i - 1] <= n);
  });
  const probs = await page.$$eval('#at-risk tbody tr td:nth-child(4)', (tds) => tds.map((t) => t.textContent));
  check(probs.every((p) => /%( flagged)?$/.test(p)), 'churn probability shown for every red account');
  // Header click: MRR, largest first; a second click flips to smallest first.
  const mrrs = async () => page.$$eval('#at-risk tbody tr td:nth-child(8)', (tds) => tds.map((t) => Number(t.textContent.replace(/[^0-9]/g, ''))));
  await page.click('#at-risk th button[data-sort=mrr]');
  await page.waitForSelector('#at-risk th[aria-sort=descending] button[data-sort=mrr]');
  let m = await mrrs();
  check(m.every((v, i) => i === 0 || m[i - 1] >= v), `header sort: MRR descending ${m.slice(0, 5)}`);
  await page.click('#at-risk th button[data-sort=mrr]');
  await page.waitForSelector('#at-risk th[aria-sort=ascending] button[data-sort=mrr]');
  m = await mrrs();
  check(m.every((v, i) => i === 0 || m[i - 1] <= v), `header sort: MRR ascending ${m.slice(0, 5)}`);

  // ---- account page with its charts -----------------------------------------------
  await page.click('#at-risk tbody tr:first-child td:first-child a');
  await page.waitForSelector('section.card:has(h2:text("Drivers"))');
  // The riskiest account's page (the list's first row before the filters).
  await page.evaluate((id) => { location.hash = `#/account/${id}`; }, E.top_account);
  await page.waitForFunction((id) => document.querySelector('dl.facts') && document.querySelector('dl.facts').textContent.includes(id), E.top_account);
  const charts = await chartsDrawn(page, 2);
  check(charts >= 2, `account page draws its charts (got ${charts})`);
  const drivers = await page.textContent('section.card:has(h2:text("Drivers"))');
  check(drivers.includes(E.top_driver), `drivers in words: the model's first, "${E.top_driver}"`);
  const users = await page.$$eval('section.card:has(h2:text-matches("^Users")) tbody tr', (t) => t.length);
  check(users === E.top_users && users > 0, `users listed (${users}, in users.csv ${E.top_users})`);
  await page.screenshot({ path: path.join(artifacts, 'account.png'), fullPage: true });

  // ---- retention and score quality ---------------------------------------------------
  await page.click('nav a[href="#/retention"]');
  await page.waitForSelector('table.heatmap td.heat');
  check(await chartsDrawn(page, 2) >= 2, 'retention charts');
  const last = await page.$$eval('section.card:has(h2:text("MRR bridge, last 12 months")) tbody tr:last-child td', (tds) => tds.map((t) => t.textContent));
  const mrrEnd = new Intl.NumberFormat('en', { maximumFractionDigits: 0 }).format(E.last_month_mrr_end_minor / 100);
  check(last[0] === E.last_month && last[7] === mrrEnd, `MRR bridge: ${last[0]} ends at ${last[7]}; subscriptions.csv: ${E.last_month} ${mrrEnd}`);
  await page.screenshot({ path: path.join(artifacts, 'retention.png'), fullPage: true });
  await page.click('nav a[href="#/quality"]');
  // Three backtests (two models, the scorecard): a ROC curve and a
  // calibration (models) or churn-by-decile (scorecard) chart each.
  const subjects = Object.keys(E.backtest_auc);
  check(await chartsDrawn(page, 2 * subjects.length) === 2 * subjects.length, `ROC and calibration charts for ${subjects}`);
  for (const subj of subjects) {
    const auc = await page.textContent(`section.backtest[data-subject="${subj}"] dl.facts div[data-key=roc_auc] dd`).catch(() => null);
    check(auc === fmt3.format(E.backtest_auc[subj]), `${subj}: ROC AUC shown ${auc}, stored ${E.backtest_auc[subj]}`);
    const lead = await page.$(`section.backtest[data-subject="${subj}"] dl.facts div[data-key=lead_time_median_days]`);
    check(lead !== null, `${subj}: lead time shown`);
    // The decile table adds up to the backtest's rows and churns.
    const dec = await page.$$eval(`section.backtest[data-subject="${subj}"] table.deciles tbody tr`, (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((t) => t.textContent)));
    const sum = (k) => dec.reduce((a, r) => a + Number(r[k].replace(/,/g, '')), 0);
    check(dec.length === 10 && sum(1) === E.backtest_rows[subj][0] && sum(2) === E.backtest_rows[subj][1],
      `${subj}: decile table sums ${dec.length ? `${sum(1)} rows, ${sum(2)} churned` : 'missing'}; stored ${E.backtest_rows[subj]}`);
  }
  const head = await page.textContent('#model h2');
  check(head === `Active model: ${E.model_name}`, `the active model: ${head}`);
  const imp = await page.$$eval('#model-importance tbody tr td:first-child', (tds) => tds.map((t) => t.textContent));
  check(JSON.stringify(imp) === JSON.stringify(E.model_importance), `what the active model looks at: ${imp}`);
  const mdec = await page.$$eval('#model-deciles tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((t) => Number(t.textContent.replace(/[^0-9.]/g, '')))));
  check(mdec.length === 10 && mdec.reduce((a, r) => a + r[1], 0) === E.model_test_rows[0] && mdec.reduce((a, r) => a + r[2], 0) === E.model_test_rows[1],
    `the active model's decile table adds up to its test rows ${E.model_test_rows}`);
  check(await page.$('#model-recalibration') !== null, 'the active model\'s recalibration window shown');
  await page.screenshot({ path: path.join(artifacts, 'quality.png'), fullPage: true });
  // A read token sees no acknowledge buttons.
  await page.click('nav a[href="#/alerts"]');
  await page.waitForSelector('#alerts li');
  const nli = (await page.$$('#alerts li')).length;
  check(nli === Math.min(200, E.open_alerts), `open alerts listed: ${nli} (open in the alerts table: ${E.open_alerts}, 200 a page)`);
  check((await page.$$('#alerts button.ack')).length === 0, 'no acknowledge buttons for a read token');
  await page.close();

  // ---- alerts: acknowledge, reload, still acknowledged ---------------------------------
  // The stock rules' alerts of the daily run.
  const p2 = await newPage();
  await signIn(p2, writeToken);
  await p2.goto(url + '/#/alerts');
  await p2.waitForSelector('#alerts li');
  const id = await p2.getAttribute('#alerts li.open', 'data-alert-id');
  check(id !== null, 'an open alert is listed');
  await p2.click(`#alerts li[data-alert-id="${id}"] button.ack`);
  await p2.waitForSelector(`#alerts li.acknowledged[data-alert-id="${id}"]`);
  await p2.reload();
  await p2.waitForSelector('#alerts li');
  const cls = await p2.getAttribute(`#alerts li[data-alert-id="${id}"]`, 'class');
  check(cls && cls.includes('acknowledged'), `alert ${id} stays acknowledged after reload (class "${cls}")`);
  check((await p2.$$(`#alerts li[data-alert-id="${id}"] button.ack`)).length === 0, 'no acknowledge button once acknowledged');
  await p2.screenshot({ path: path.join(artifacts, 'alerts.png'), fullPage: true });
  // Sign-out forgets the token.
  await p2.click('nav button.link');
  await p2.waitForSelector('form.login');
  check(await p2.evaluate(() => sessionStorage.length) === 0, 'sign-out clears sessionStorage');
  await p2.close();

  // ---- a CSM signs in, acknowledges an alert under their name, signs out -------------
  const pc = await newPage();
  await signInAs(pc, 'carl@example.com', "carl's password 1");
  const who = await pc.textContent('#signed-in-as');
  check(who === 'Signed in as carl (csm)', `the header names the user: "${who}"`);
  const cookies = await pc.context().cookies();
  const sc = cookies.find((c) => c.name === 'cw_session');
  check(sc && sc.httpOnly && sc.sameSite === 'Strict' && sc.path === '/', `session cookie HttpOnly, SameSite=Strict: ${JSON.stringify(sc && { h: sc.httpOnly, s: sc.sameSite })}`);
  check(await pc.evaluate(() => document.cookie) === '', 'the session cookie is out of the page\'s reach');
  await pc.click('nav a[href="#/alerts"]');
  await pc.waitForSelector('#alerts li.open button.ack');
  const cid = await pc.getAttribute('#alerts li.open', 'data-alert-id');
  await pc.click(`#alerts li[data-alert-id="${cid}"] button.ack`);
  await pc.waitForSelector(`#alerts li.acknowledged[data-alert-id="${cid}"]`);
  const by = await pc.textContent(`#alerts li[data-alert-id="${cid}"] .actor`);
  check(by === ' by carl', `the alert shows who acknowledged it: "${by}"`);
  // The audit trail, read back through the API with the read token.
  const audit = await (await fetch(`${url}/api/v1/alerts?status=acknowledged&limit=500`, { headers: { Authorization: `Bearer ${readToken}` } })).json();
  const rec = audit.items.find((x) => String(x.id) === cid);
  check(rec && rec.acked_by === 'carl' && rec.updated_by === 'carl', `audit: alert ${cid} acked_by ${rec && rec.acked_by}`);
  await pc.screenshot({ path: path.join(artifacts, 'csm-acked.png'), fullPage: true });
  await pc.click('#sign-out');
  await pc.waitForSelector('form.login');
  check((await pc.context().cookies()).every((c) => c.name !== 'cw_session'), 'sign-out removes the session cookie');
  await pc.reload();
  await pc.waitForSelector('form.login');
  check(true, 'after sign-out a reload shows the sign-in form');
  await pc.screenshot({ path: path.join(artifacts, 'signed-out.png'), fullPage: true });
  await pc.close();

  // ---- a viewer sees no buttons, and the API refuses them anyway ----------------------
  const pv = await newPage();
  await signInAs(pv, 'vera', "vera's password 2");
  check(await pv.textContent('#signed-in-as') === 'Signed in as vera (viewer)', 'the viewer is named');
  await pv.click('nav a[href="#/alerts"]');
  await pv.waitForSelector('#alerts li');
  check((await pv.$$('#alerts button')).length === 0, 'a viewer sees no acknowledge, snooze or resolve buttons');
  await pv.screenshot({ path: path.join(artifacts, 'viewer-alerts.png'), fullPage: true });
  const vs = await (await pv.request.get(`${url}/api/v1/session`)).json();
  const vid = await pv.getAttribute('#alerts li.open', 'data-alert-id');
  const forced = await pv.request.post(`${url}/api/v1/alerts/${vid}/ack`, { headers: { 'X-CSRF-Token': vs.csrf_token, 'Content-Type': 'application/json' }, data: '{}' });
  check(forced.status() === 403, `a viewer's ack with a valid CSRF token is refused: ${forced.status()}`);
  const nocsrf = await pv.request.post(`${url}/api/v1/alerts/${vid}/ack`, { headers: { 'Content-Type': 'application/json' }, data: '{}' });
  check(nocsrf.status() === 403, `a cookie write without the CSRF token is refused: ${nocsrf.status()}`);
  await pv.close();

  // ---- an expired session is refused: back to the sign-in form ----------------------
  const expected = /401|Unauthorized/;
  expected.seen = [];
  const px = await newPage(expected);
  await signInAs(px, 'carl', "carl's password 1");
  execFileSync('python3', [process.env.CW_WORLD_PY, 'expire-sessions', process.env.CW_TEST_DIR, 'carl']);
  await px.click('nav a[href="#/alerts"]');
  await px.waitForSelector('form.login');
  const xmsg = await px.textContent('#login-error');
  check(/expired|sign in again/i.test(xmsg), `an expired session shows the sign-in form: "${xmsg}"`);
  check(expected.seen.length >= 1, `the server answered 401 (${expected.seen.length} logged)`);
  await px.screenshot({ path: path.join(artifacts, 'session-expired.png'), fullPage: true });
  await px.close();

  // ---- the static report: works from a file with no network at all ------------------
  const p3 = await newPage();
  await p3.route('**/*', (r) => (r.request().url().startsWith('file:') ? r.continue() : r.abort()));
  await p3.goto('file://' + reportFile);
  await p3.waitForSelector('#at-risk tbody tr');
  const srows = await p3.$$eval('#at-risk tbody tr', (t) => t.length);
  check(srows === 50, `report: at-risk list from embedded data (${srows} rows)`);
  await p3.click('#at-risk tbody tr:first-child td:first-child a');
  await p3.waitForSelector('figure.chart canvas');
  check((await p3.$$('button.ack')).length === 0, 'report: no buttons');
  await p3.click('nav a[href="#/retention"]');
  await p3.waitForSelector('table.heatmap td.heat');
  await p3.screenshot({ path: path.join(artifacts, 'report-retention.png'), fullPage: true });
  await p3.close();
} catch (e) {
  problems.push(`exception: ${e.message.split('\n').slice(0, 3).join(' | ')}`);
} finally {
  await browser.close();
}
for (const p of problems) if (!p.startsWith('FAIL')) console.log(p);
console.log(`browser tests: ${checks - problems.length < 0 ? 0 : checks} checks, ${problems.length} problems`);
process.exit(problems.length ? 1 : 0);
