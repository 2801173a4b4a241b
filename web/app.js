// churnwatch dashboard: a plain ES module over the JSON API (/api/v1) and
// uPlot (global, vendored at build time). Hash routes: #/at-risk,
// #/account/ID, #/retention, #/quality, #/alerts. People sign in with a
// name (or e-mail) and password: the server sets an HttpOnly session cookie
// and gives the session's CSRF token, sent back as X-CSRF-Token with every
// change. An API token (the "advanced" sign-in) lives in sessionStorage
// (gone when the tab closes) and travels as a bearer header instead. DOM is
// built with textContent only (never innerHTML with data). In `churnwatch
// report html` files the data is embedded in #cw-data and nothing is fetched.

const TOKEN_KEY = 'churnwatch.token';
const embedded = document.getElementById('cw-data');
const STATIC = embedded ? JSON.parse(embedded.textContent) : null;
const app = document.getElementById('app');
let session = STATIC ? STATIC.session : null;

// ---- small DOM helpers ------------------------------------------------------

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

const nf0 = new Intl.NumberFormat('en', { maximumFractionDigits: 0 });
const nf1 = new Intl.NumberFormat('en', { maximumFractionDigits: 1 });

function money(minor, currency) {
  if (minor === null || minor === undefined) return '—';
  return `${nf0.format(minor / 100)} ${currency || ''}`.trim();
}
function pct(p) {
  return p === null || p === undefined ? '—' : `${nf1.format(p * 100)}%`;
}
const nfs = {};
function num(v, digits = 1) {
  if (v === null || v === undefined) return '—';
  nfs[digits] = nfs[digits] || new Intl.NumberFormat('en', { maximumFractionDigits: digits });
  return nfs[digits].format(v);
}
function toUnix(day) {
  return Date.parse(day.length === 10 ? `${day}T00:00:00Z` : day) / 1000;
}
// "Flagged" is the model's definition (docs/model.md, "Flagged"): by default
// the riskiest 10% of the accounts scored that day, not a fixed probability.
function flagBadge(rule) {
  return h('span', { class: 'badge flag', title: `flagged: ${rule || 'top 10%'} of the accounts scored` }, 'flagged');
}
function colourBadge(colour, score) {
  if (!colour) return h('span', { class: 'badge none', title: 'not scored yet' }, 'not scored');
  return h('span', { class: `badge ${colour}`, title: `health ${colour}` },
    score === null || score === undefined ? colour : nf0.format(score));
}

// A trend sparkline as inline SVG (50 rows per page: cheaper than charts).
function sparkline(points) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 80 20');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('role', 'img');
  if (!points || points.length < 2) {
    svg.setAttribute('aria-label', 'no trend yet');
    return svg;
  }
  svg.setAttribute('aria-label', `score trend ${points.map((p) => Math.round(p)).join(', ')}`);
  const step = 80 / (points.length - 1);
  const line = document.createElementNS(ns, 'polyline');
  line.setAttribute('points', points.map((p, i) => `${(i * step).toFixed(1)},${(19 - (p / 100) * 18).toFixed(1)}`).join(' '));
  const last = points[points.length - 1], first = points[0];
  line.setAttribute('class', last < first - 2 ? 'down' : last > first + 2 ? 'up' : 'flat');
  svg.append(line);
  return svg;
}

// ---- data access ------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

function token() { return sessionStorage.getItem(TOKEN_KEY); }

async function api(path, opts = {}) {
  if (STATIC) return staticApi(path);
  const method = opts.method || 'GET';
  const headers = {};
  if (token()) headers.Authorization = `Bearer ${token()}`;
  else if (method !== 'GET' && session && session.csrf_token) headers['X-CSRF-Token'] = session.csrf_token;
  if (opts.body) headers['Content-Type'] = 'application/json';
  const res = await fetch(`/api/v1${path}`, {
    method, headers, credentials: 'same-origin',
    body: opts.body ? JSON.stringify(opts.body) : undefined,
  });
  let body = null;
  try { body = await res.json(); } catch (e) { body = null; }
  if (res.status === 401 && !opts.noSignOut) {
    // Expired, signed out elsewhere, or a revoked token: back to the sign-in
    // form whichever page asked (pages catch their own errors).
    const hadSession = session !== null;
    sessionStorage.removeItem(TOKEN_KEY);
    session = null;
    if (hadSession) loginPage('Your session has expired: please sign in again.');
    throw new ApiError(401, (body && body.error) || 'unauthorised');
  }
  if (!res.ok) throw new ApiError(res.status, (body && body.error) || `HTTP ${res.status}`);
  return body;
}

// The embedded report's stand-in for the API (GET only).
function staticApi(path) {
  const [p, qs] = path.split('?');
  const q = new URLSearchParams(qs || '');
  if (p === '/accounts') {
    let items = (STATIC.accounts && STATIC.accounts.items) || [];
    if (q.get('colour')) items = items.filter((a) => a.colour === q.get('colour'));
    if (q.get('segment')) items = items.filter((a) => a.segment === q.get('segment'));
    if (q.get('owner')) items = items.filter((a) => a.owner === q.get('owner'));
    if (q.get('status')) items = items.filter((a) => a.status === q.get('status'));
    if (q.get('q')) {
      const s = q.get('q').toLowerCase();
      items = items.filter((a) => a.name.toLowerCase().includes(s) || a.id.toLowerCase().includes(s));
    }
    const rd = q.get('renewal_within_days');
    if (rd) items = items.filter((a) => a.days_to_renewal !== null && a.days_to_renewal >= 0 && a.days_to_renewal < Number(rd));
    const off = Number(q.get('offset') || 0), lim = Number(q.get('limit') || 50);
    return Promise.resolve(Object.assign({}, STATIC.accounts, { total: items.length, offset: off, limit: lim, items: items.slice(off, off + lim) }));
  }
  const m = p.match(/^\/accounts\/(.+)$/);
  if (m) {
    const a = STATIC.account && STATIC.account[decodeURIComponent(m[1])];
    return a ? Promise.resolve(a) : Promise.reject(new ApiError(404, 'this account is not detailed in the report (only the riskiest are)'));
  }
  const map = { '/facets': 'facets', '/reports/revenue': 'revenue', '/reports/cohorts': 'cohorts', '/reports/reasons': 'reasons', '/backtests': 'backtests', '/models': 'models', '/alerts': 'alerts', '/session': 'session' };
  if (map[p] && STATIC[map[p]]) return Promise.resolve(STATIC[map[p]]);
  return Promise.reject(new ApiError(404, 'not in this report'));
}

// ---- layout -------------------------------------------------------------------

const PAGES = [
  ['at-risk', 'At risk'],
  ['retention', 'Retention'],
  ['quality', 'Score quality'],
  ['alerts', 'Alerts'],
];

function shell(active) {
  clear(app);
  const nav = h('nav', { class: 'top', 'aria-label': 'main' },
    h('span', { class: 'brand' }, 'churnwatch'),
    PAGES.map(([id, label]) => h('a', { href: `#/${id}`, 'aria-current': active === id ? 'page' : null }, label)),
    h('span', { class: 'spacer' }),
    STATIC ? h('span', { class: 'muted' }, `report generated ${STATIC.generated}`) : whoAmI(),
    STATIC ? null : h('button', { type: 'button', class: 'link', id: 'sign-out', onclick: signOut }, 'Sign out'));
  const main = h('main', { id: 'main' });
  app.append(nav, main);
  return main;
}

// Who is signed in, for the header: a user's name and role, or the token's.
function whoAmI() {
  if (!session) return null;
  const text = session.kind === 'session' ? `${session.user.name} (${session.role})`
    : `token ${session.token || ''} (${session.role})`.replace('  ', ' ');
  return h('span', { class: 'muted', id: 'signed-in-as', 'data-role': session.role }, `Signed in as ${text}`);
}

async function signOut() {
  const wasSession = session && session.kind === 'session';
  sessionStorage.removeItem(TOKEN_KEY);
  if (wasSession) { try { await api('/logout', { method: 'POST', body: {}, noSignOut: true }); } catch (e) { /* signed out anyway */ } }
  session = null;
  loginPage('', 'You are signed out.');
}

function showError(main, err) {
  main.append(h('p', { class: 'error', role: 'alert' }, `Could not load: ${err.message}`));
}

function loginPage(message, note) {
  clear(app);
  const name = h('input', { id: 'login-name', name: 'username', type: 'text', autocomplete: 'username', required: true });
  const password = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const msg = h('p', { class: 'error', role: 'alert', id: 'login-error' }, message || '');
  const form = h('form', { class: 'login', id: 'login', onsubmit: async (ev) => {
    ev.preventDefault();
    msg.textContent = '';
    sessionStorage.removeItem(TOKEN_KEY);
    try {
      session = await api('/login', { method: 'POST', body: { name: name.value.trim(), password: password.value }, noSignOut: true });
      password.value = '';
      route();
    } catch (e) {
      password.value = '';
      msg.textContent = e.status === 401 ? 'Wrong name or password.'
        : e.status === 429 ? 'Too many failed sign-ins: wait a few minutes and try again.' : e.message;
    }
  } },
  h('h1', {}, 'churnwatch'),
  note ? h('p', { class: 'muted', role: 'status' }, note) : null,
  h('label', { for: 'login-name' }, 'Name or e-mail'),
  name,
  h('label', { for: 'login-password' }, 'Password'),
  password,
  h('button', { type: 'submit' }, 'Sign in'),
  msg);
  // Machines use API tokens; a token still opens the dashboard (read tokens
  // read, write tokens also act on alerts), kept in this tab only.
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', 'aria-describedby': 'token-help' });
  const tmsg = h('p', { class: 'error', role: 'alert' });
  const tokenForm = h('form', { class: 'token-login', onsubmit: async (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    try {
      session = await api('/session');
      route();
    } catch (e) {
      tmsg.textContent = e.status === 401 ? 'That token is not valid (or has expired, or was revoked).' : e.message;
    }
  } },
  h('label', { for: 'token' }, 'API token'),
  input,
  h('p', { id: 'token-help', class: 'muted' }, 'Create one with `churnwatch token create --role read`. It is kept in this tab only (sessionStorage).'),
  h('button', { type: 'submit' }, 'Sign in with the token'),
  tmsg);
  app.append(form, h('details', { class: 'advanced' }, h('summary', {}, 'Advanced: sign in with an API token'), tokenForm));
  name.focus();
}

// ---- charts ---------------------------------------------------------------------

const compact = new Intl.NumberFormat('en', { notation: 'compact', maximumFractionDigits: 1 });

// A uPlot chart in a captioned figure. Its width follows the figure (a
// ResizeObserver): grid cells only get their final width once every card of
// the page is in place.
function chart(el, title, series, data, opts = {}) {
  const box = h('figure', { class: 'chart' }, h('figcaption', {}, title));
  el.append(box);
  if (!data[0] || data[0].length === 0) {
    box.append(h('p', { class: 'muted' }, opts.empty || 'No data yet.'));
    return null;
  }
  const widthOf = () => Math.max(240, Math.min((box.clientWidth || 640) - 34, 1100));
  const height = opts.height || 220;
  const u = new uPlot({
    width: widthOf(),
    height,
    series: [{}].concat(series),
    scales: opts.scales || { x: { time: opts.time !== false } },
    axes: opts.axes || [{}, { size: 60, values: (self, ticks) => ticks.map((v) => compact.format(v)) }],
    legend: { live: false },
  }, data, box);
  if (window.ResizeObserver) {
    new ResizeObserver(() => {
      const w = widthOf();
      if (Math.abs(w - u.width) > 2) u.setSize({ width: w, height });
    }).observe(box);
  }
  return u;
}

const COLOURS = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2'];

// ---- at risk --------------------------------------------------------------------

const listState = { colour: '', segment: '', owner: '', status: '', renewal_within_days: '', q: '', sort: 'risk', order: '', offset: 0, limit: 50 };

async function atRiskPage() {
  const main = shell('at-risk');
  main.append(h('h1', {}, 'Accounts at risk'));
  let facets;
  try { facets = await api('/facets'); } catch (e) { showError(main, e); return; }
  const sel = (name, label, options) => h('label', {}, label,
    h('select', { name, onchange: (ev) => { listState[name] = ev.target.value; listState.offset = 0; if (name === 'sort') listState.order = ''; loadList(); } },
      options.map(([v, t]) => h('option', { value: v, selected: listState[name] === v }, t))));
  const search = h('input', { type: 'search', name: 'q', value: listState.q, placeholder: 'name or id' });
  let timer = null;
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => { listState.q = search.value; listState.offset = 0; loadList(); }, 250);
  });
  const counts = facets.colours || {};
  main.append(h('form', { class: 'filters', role: 'search', onsubmit: (ev) => ev.preventDefault() },
    sel('colour', 'Health', [['', 'all'], ['red', `red (${counts.red || 0})`], ['yellow', `yellow (${counts.yellow || 0})`], ['green', `green (${counts.green || 0})`]]),
    sel('segment', 'Segment', [['', 'all']].concat((facets.segments || []).map((s) => [s, s]))),
    sel('owner', 'Owner', [['', 'all']].concat((facets.owners || []).map((s) => [s, s]))),
    sel('status', 'Status', [['', 'all'], ['active', 'active'], ['trial', 'trial'], ['paused', 'paused'], ['churned', 'churned']]),
    sel('renewal_within_days', 'Renewal within', [['', 'any time'], ['30', '30 days'], ['60', '60 days'], ['90', '90 days'], ['180', '180 days']]),
    h('label', {}, 'Search', search),
    sel('sort', 'Sort by', [['risk', 'risk'], ['probability', 'churn probability'], ['score', 'health score'], ['change', 'score change'], ['mrr_at_risk', 'MRR at risk'], ['mrr', 'MRR'], ['renewal', 'renewal date'], ['name', 'name']])));
  const status = h('p', { class: 'muted', 'aria-live': 'polite', id: 'list-status' });
  const table = h('table', { class: 'list', id: 'at-risk' });
  const pager = h('div', { class: 'pager' });
  main.append(status, table, pager);

  async function loadList() {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(listState)) if (v !== '' && v !== null) q.set(k, v);
    let res;
    try { res = await api(`/accounts?${q}`); } catch (e) { clear(table); showError(table, e); return; }
    status.textContent = `${nf0.format(res.total)} accounts as of ${res.as_of}` +
      (res.scored ? '' : ' — not scored yet: run the scorecard to see health scores') +
      (res.predicted ? '' : '; no churn model predictions yet');
    clear(table);
    // Sortable headers: a button per sortable column; a second click flips
    // the direction. aria-sort tells assistive technology the current order.
    const cols = [['Account', 'name'], ['Health', 'score'], ['Trend', null], ['Churn prob.', 'probability'], ['Top driver', null],
      ['Renewal', 'renewal'], ['MRR at risk', 'mrr_at_risk'], ['MRR', 'mrr'], ['Owner', null]];
    const natural = { name: 'asc', score: 'asc', probability: 'desc', renewal: 'asc', mrr_at_risk: 'desc', mrr: 'desc' };
    const current = listState.order || natural[listState.sort] || 'desc';
    table.append(h('thead', {}, h('tr', {}, cols.map(([t, key]) => {
      if (!key) return h('th', { scope: 'col' }, t);
      const active = listState.sort === key;
      return h('th', { scope: 'col', 'aria-sort': active ? (current === 'asc' ? 'ascending' : 'descending') : null },
        h('button', { type: 'button', class: 'sort', 'data-sort': key, onclick: () => {
          listState.order = active ? (current === 'asc' ? 'desc' : 'asc') : '';
          listState.sort = key;
          listState.offset = 0;
          const s = document.querySelector('select[name=sort]');
          if (s) s.value = key;
          loadList();
        } }, t, active ? (current === 'asc' ? ' ▲' : ' ▼') : ''));
    }))));
    const body = h('tbody');
    for (const a of res.items) {
      body.append(h('tr', { 'data-colour': a.colour || 'none' },
        h('td', {}, h('a', { href: `#/account/${encodeURIComponent(a.id)}` }, a.name), h('div', { class: 'muted small' }, `${a.id} · ${a.segment}`)),
        h('td', {}, colourBadge(a.colour, a.score), a.change === null ? null : h('span', { class: a.change < 0 ? 'delta down' : 'delta up' }, ` ${a.change > 0 ? '+' : ''}${nf0.format(a.change)}`)),
        h('td', {}, sparkline(a.trend)),
        h('td', { class: 'num' }, pct(a.probability), a.flagged ? [' ', flagBadge(res.flag)] : null),
        h('td', {}, a.top_driver || h('span', { class: 'muted' }, '—')),
        h('td', { class: 'num' }, a.days_to_renewal === null ? '—' : `${a.days_to_renewal} d`),
        h('td', { class: 'num' }, money(a.mrr_at_risk_minor, a.currency)),
        h('td', { class: 'num' }, money(a.mrr_minor, a.currency)),
        h('td', {}, a.owner || '—')));
    }
    if (!res.items.length) body.append(h('tr', {}, h('td', { colspan: 9, class: 'muted' }, 'No account matches these filters.')));
    table.append(body);
    clear(pager);
    const from = res.total ? res.offset + 1 : 0, to = res.offset + res.items.length;
    pager.append(
      h('button', { type: 'button', disabled: res.offset === 0, onclick: () => { listState.offset = Math.max(0, res.offset - res.limit); loadList(); } }, '← Previous'),
      h('span', {}, ` ${from}–${to} of ${nf0.format(res.total)} `),
      h('button', { type: 'button', disabled: to >= res.total, onclick: () => { listState.offset = res.offset + res.limit; loadList(); } }, 'Next →'));
  }
  await loadList();
}

// ---- account ----------------------------------------------------------------------

function metricSeries(m, name) {
  const i = m.names.indexOf(name);
  return i < 0 ? null : m.values[i];
}

async function accountPage(id) {
  const main = shell('at-risk');
  let a;
  try { a = await api(`/accounts/${encodeURIComponent(id)}`); } catch (e) { showError(main, e); return; }
  main.append(h('p', {}, h('a', { href: '#/at-risk' }, '← At risk')),
    h('h1', {}, a.name, ' ', colourBadge(a.score && a.score.colour, a.score && a.score.score)),
    h('dl', { class: 'facts' },
      [['Account', a.id], ['Segment', a.segment], ['Owner', a.owner || '—'], ['Status', a.status],
      ['MRR', money(a.mrr_minor, a.currency)], ['Seats', a.seats],
      ['Renewal', a.renewal_date ? `${a.renewal_date} (${a.days_to_renewal} d)` : '—'],
      ['Churn probability', pct(a.probability) + (a.flagged ? ` · flagged (${a.flag})` : '')], ['As of', a.as_of]
    ].map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, String(v))))));
  const grid = h('div', { class: 'grid' });
  main.append(grid);

  // Health and probability over time.
  const days = [...new Set(a.scores.map((s) => s.day).concat(a.predictions.map((p) => p.day)))].sort();
  const sc = Object.fromEntries(a.scores.map((s) => [s.day, s.score]));
  const pr = Object.fromEntries(a.predictions.map((p) => [p.day, p.probability * 100]));
  chart(grid, 'Health score and churn probability', [
    { label: 'health score', stroke: COLOURS[0], width: 2, scale: 'y' },
    { label: 'churn probability %', stroke: COLOURS[1], width: 2, scale: 'y' },
  ], [days.map(toUnix), days.map((d) => sc[d] ?? null), days.map((d) => pr[d] ?? null)],
  { empty: 'Not scored yet.', scales: { x: { time: true }, y: { range: [0, 100] } } });

  // Licence gap: seats vs active users.
  const m = a.metrics;
  chart(grid, 'Licences: seats vs active users', [
    { label: 'seats', stroke: COLOURS[3], width: 2 },
    { label: 'active users', stroke: COLOURS[2], width: 2 },
    { label: 'licence gap', stroke: COLOURS[4], width: 1, dash: [4, 4] },
  ], [m.days.map(toUnix), metricSeries(m, 'seats') || [], metricSeries(m, 'active_users') || [], metricSeries(m, 'licence_gap') || []],
  { empty: 'No metric snapshots yet (run `churnwatch metrics`).' });

  // Drivers: the model's, else the scorecard's contributions.
  const drivers = h('section', { class: 'card' }, h('h2', {}, 'Drivers'));
  if (a.drivers && a.drivers.length) {
    drivers.append(h('ol', {}, a.drivers.map((d) => h('li', {}, d.text || `${d.metric}: ${num(d.value)}`,
      h('span', { class: 'muted' }, ` (${d.contribution > 0 ? '+' : ''}${num(d.contribution, 2)})`)))));
  } else if (a.score && a.score.contrib) {
    const entries = Object.entries(a.score.contrib).sort((x, y) => x[1] - y[1]);
    drivers.append(h('ul', {}, entries.map(([k, v]) => h('li', {}, `${k}: ${num(v)} points`))));
  } else {
    drivers.append(h('p', { class: 'muted' }, 'Not scored yet.'));
  }
  grid.append(drivers);

  // Open alerts with acknowledge buttons.
  const alerts = h('section', { class: 'card', id: 'account-alerts' }, h('h2', {}, 'Alerts'));
  const open = (a.alerts || []).filter((x) => x.status !== 'resolved');
  if (!open.length) alerts.append(h('p', { class: 'muted' }, 'No open alerts.'));
  else alerts.append(h('ul', { class: 'alerts' }, open.map((x) => alertItem(x, () => accountPage(id)))));
  grid.append(alerts);

  // Outcomes vs expected.
  const goals = h('section', { class: 'card wide' }, h('h2', {}, 'Outcomes vs expected'));
  if (!a.goals.length) goals.append(h('p', { class: 'muted' }, 'No goals recorded.'));
  else {
    goals.append(h('table', {}, h('thead', {}, h('tr', {}, ['Goal', 'Baseline', 'Target', 'Due', 'Latest actual', 'Expected now', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, a.goals.map((g) => {
        const up = g.target >= g.baseline;
        const ok = g.actual_latest === null ? null : up ? g.actual_latest >= g.expected_now : g.actual_latest <= g.expected_now;
        return h('tr', {}, h('td', {}, g.metric, g.unit ? h('span', { class: 'muted' }, ` (${g.unit})`) : null),
          h('td', { class: 'num' }, num(g.baseline)), h('td', { class: 'num' }, num(g.target)), h('td', {}, g.target_date),
          h('td', { class: 'num' }, num(g.actual_latest)), h('td', { class: 'num' }, num(g.expected_now)),
          h('td', {}, ok === null ? '—' : h('span', { class: ok ? 'badge green' : 'badge red' }, ok ? 'on track' : 'behind')));
      }))));
  }
  grid.append(goals);

  // Users with engagement.
  const users = h('section', { class: 'card wide' }, h('h2', {}, `Users (${a.users.length})`));
  users.append(h('table', {}, h('thead', {}, h('tr', {}, ['User', 'Role', 'Department', 'Last seen', 'Active days', 'Features used', ''].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, a.users.slice(0, 200).map((u) => h('tr', { class: u.deactivated ? 'muted' : null },
      h('td', {}, u.email || u.id), h('td', {}, u.role || '—'), h('td', {}, u.department || '—'),
      h('td', {}, u.last_seen || 'never'), h('td', { class: 'num' }, num(u.active_days, 0)),
      h('td', { class: 'num' }, num(u.features_used, 0)),
      h('td', {}, u.deactivated ? `deactivated ${u.deactivated}` : u.dropped_off ? 'dropped off' : ''))))));
  grid.append(users);

  // Timeline.
  const tl = h('section', { class: 'card wide' }, h('h2', {}, 'Timeline'));
  if (!a.timeline.length) tl.append(h('p', { class: 'muted' }, 'Nothing yet.'));
  else tl.append(h('ol', { class: 'timeline' }, a.timeline.slice(0, 100).map((t) => h('li', { class: t.type },
    h('time', {}, (t.at || '').slice(0, 10)), ' ', h('strong', {}, t.title || t.type), t.detail ? ` — ${t.detail}` : ''))));
  grid.append(tl);
}

// ---- alerts ------------------------------------------------------------------------

function alertItem(x, reload) {
  const canWrite = session && session.can_write === true && !STATIC;
  const what = `alert ${x.rule} on ${x.account_name || x.account}`;
  const act = async (op, body) => {
    try { await api(`/alerts/${x.id}/${op}`, { method: 'POST', body: body || {} }); reload(); } catch (e) { window.alert(`Could not ${op}: ${e.message}`); }
  };
  return h('li', { class: `alert ${x.status}`, 'data-alert-id': x.id },
    h('span', { class: `sev ${x.severity || ''}` }, x.severity || ''), ' ',
    h('a', { href: `#/account/${encodeURIComponent(x.account)}` }, x.account_name || x.account), ' — ',
    h('strong', {}, x.rule), x.message ? ` ${x.message}` : '',
    h('span', { class: 'muted small' }, ` opened ${(x.opened_at || '').slice(0, 10)} · ${x.status}`,
      x.status === 'snoozed' && x.snoozed_until ? ` until ${x.snoozed_until.slice(0, 10)}` : '',
      x.updated_by ? h('span', { class: 'actor' }, ` by ${x.updated_by}`) : ''),
    canWrite && x.status === 'open' ? h('button', { type: 'button', class: 'ack', 'aria-label': `Acknowledge ${what}`, onclick: () => act('ack') }, 'Acknowledge') : null,
    canWrite && x.status !== 'resolved' ? h('button', { type: 'button', 'aria-label': `Snooze ${what} for 7 days`, onclick: () => act('snooze', { days: 7 }) }, 'Snooze 7 d') : null,
    canWrite && x.status !== 'resolved' ? h('button', { type: 'button', 'aria-label': `Resolve ${what}`, onclick: () => act('resolve') }, 'Resolve') : null);
}

async function alertsPage(status = 'open') {
  const main = shell('alerts');
  main.append(h('h1', {}, 'Alerts'));
  if (!STATIC) {
    main.append(h('label', {}, 'Show ', h('select', { onchange: (ev) => alertsPage(ev.target.value) },
      ['open', 'acknowledged', 'snoozed', 'resolved', 'all'].map((s) => h('option', { value: s, selected: s === status }, s)))));
  }
  let res;
  try { res = await api(`/alerts?status=${status}&limit=200`); } catch (e) { showError(main, e); return; }
  if (!res.items.length) main.append(h('p', { class: 'muted' }, 'No alerts. (Alerts appear once rules have run: `churnwatch run`.)'));
  else main.append(h('ul', { class: 'alerts', id: 'alerts' }, res.items.map((x) => alertItem(x, () => alertsPage(status)))));
}

// ---- retention ---------------------------------------------------------------------

async function retentionPage() {
  const main = shell('retention');
  main.append(h('h1', {}, 'Retention and revenue'));
  const grid = h('div', { class: 'grid' });
  main.append(grid);
  let rev, coh, rea;
  try {
    [rev, coh, rea] = await Promise.all([api('/reports/revenue'), api('/reports/cohorts'), api('/reports/reasons')]);
  } catch (e) { showError(main, e); return; }
  if (rev.empty) grid.append(h('p', { class: 'muted' }, `Revenue: ${rev.reason}`));
  else {
    const x = rev.periods.map((p) => toUnix(`${p.period}-01`));
    chart(grid, `MRR bridge per month (${rev.currency}, major units)`, [
      { label: 'new', stroke: COLOURS[2] }, { label: 'expansion', stroke: COLOURS[0] },
      { label: 'contraction', stroke: COLOURS[3] }, { label: 'churn', stroke: COLOURS[1] },
      { label: 'reactivation', stroke: COLOURS[4] },
    ], [x, ...['new_minor', 'expansion_minor', 'contraction_minor', 'churn_minor', 'reactivation_minor'].map((k) => rev.periods.map((p) => p[k] / 100))]);
    chart(grid, 'NRR and GRR (%)', [
      { label: 'NRR %', stroke: COLOURS[0], width: 2 }, { label: 'GRR %', stroke: COLOURS[1], width: 2 },
    ], [x, rev.periods.map((p) => p.nrr_pct), rev.periods.map((p) => p.grr_pct)]);
    const t = h('table', { class: 'wide' }, h('thead', {}, h('tr', {}, ['Month', 'MRR start', 'New', 'Expansion', 'Contraction', 'Churn', 'Reactivation', 'MRR end', 'NRR', 'GRR'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rev.periods.slice(-12).map((p) => h('tr', {}, h('td', {}, p.period),
        ...['mrr_start_minor', 'new_minor', 'expansion_minor', 'contraction_minor', 'churn_minor', 'reactivation_minor', 'mrr_end_minor'].map((k) => h('td', { class: 'num' }, money(p[k]))),
        h('td', { class: 'num' }, p.nrr_pct === null ? '—' : `${nf1.format(p.nrr_pct)}%`),
        h('td', { class: 'num' }, p.grr_pct === null ? '—' : `${nf1.format(p.grr_pct)}%`)))));
    grid.append(h('section', { class: 'card wide' }, h('h2', {}, 'MRR bridge, last 12 months'), t));
  }
  // Cohort heatmap (logo retention).
  const cs = h('section', { class: 'card wide' }, h('h2', {}, 'Cohorts: logo retention by months since start'));
  if (coh.empty) cs.append(h('p', { class: 'muted' }, coh.reason));
  else {
    const head = h('tr', {}, h('th', { scope: 'col' }, 'Cohort'), h('th', { scope: 'col' }, 'Accounts'));
    for (let k = 0; k <= coh.months; k++) head.append(h('th', { scope: 'col' }, String(k)));
    const rows = coh.cohorts.map((c) => h('tr', {}, h('th', { scope: 'row' }, c.cohort), h('td', { class: 'num' }, c.accounts),
      c.logo_retention_pct.map((v) => {
        const td = h('td', { class: 'heat num' }, v === null ? '' : nf0.format(v));
        if (v !== null) td.style.backgroundColor = `hsl(${Math.round((v / 100) * 120)}, 70%, ${88 - (v / 100) * 30}%)`;
        return td;
      })));
    cs.append(h('table', { class: 'heatmap' }, h('thead', {}, head), h('tbody', {}, rows)));
  }
  grid.append(cs);
  // Churn reasons.
  const rs = h('section', { class: 'card' }, h('h2', {}, 'Churn reasons'));
  if (rea.empty) rs.append(h('p', { class: 'muted' }, rea.reason));
  else {
    const max = Math.max(1, ...rea.causes.map((c) => c.lost_mrr_minor));
    rs.append(h('ul', { class: 'bars' }, rea.causes.map((c) => {
      const bar = h('span', { class: 'bar' });
      bar.style.width = `${(100 * c.lost_mrr_minor) / max}%`;
      return h('li', {}, h('span', { class: 'label' }, c.cause.replace(/_/g, ' ')), bar,
        h('span', { class: 'muted small' }, ` ${c.accounts} accounts, ${money(c.lost_mrr_minor, rea.currency)} MRR`));
    })), h('p', { class: 'muted' }, `Avoidable: ${rea.avoidable.accounts} accounts, ${money(rea.avoidable.lost_mrr_minor, rea.currency)} MRR`));
  }
  grid.append(rs);
}

// ---- score quality -----------------------------------------------------------------

// Calibration by decile of risk: rows, churns, mean prediction (models only)
// and observed churn rate, with the totals (docs/model.md, "Calibration").
function decileTable(rows, id) {
  if (!Array.isArray(rows) || !rows.length || rows[0] === null || typeof rows[0] !== 'object' || rows[0].rows === undefined) return null;
  const withP = rows[0].mean_score !== undefined;
  const n = rows.reduce((a, r) => a + (r.rows || 0), 0), pos = rows.reduce((a, r) => a + (r.positives || 0), 0);
  const meanP = withP && n ? rows.reduce((a, r) => a + (r.mean_score || 0) * (r.rows || 0), 0) / n : null;
  const cell = (v) => h('td', { class: 'num' }, v);
  const pct = (v) => (v === null || v === undefined ? '—' : `${num(100 * v, 2)}%`);
  return h('table', { class: 'list deciles', id },
    h('caption', {}, 'Calibration by decile of risk' + (withP ? ': mean predicted vs observed churn' : ' (a score is no probability: observed churn only)')),
    h('thead', {}, h('tr', {}, h('th', {}, 'decile'), h('th', { class: 'num' }, 'rows'), h('th', { class: 'num' }, 'churned'),
      withP ? h('th', { class: 'num' }, 'mean predicted') : null, h('th', { class: 'num' }, 'observed'))),
    h('tbody', {}, rows.map((r) => h('tr', { 'data-decile': r.decile }, h('td', {}, String(r.decile)), cell(nf0.format(r.rows)), cell(nf0.format(r.positives)),
      withP ? cell(pct(r.mean_score)) : null, cell(pct(r.observed))))),
    h('tfoot', {}, h('tr', {}, h('th', {}, 'all'), cell(nf0.format(n)), cell(nf0.format(pos)), withP ? cell(pct(meanP)) : null, cell(pct(n ? pos / n : null)))));
}

// A recalibration (model meta or backtest): its window and churn rate there.
function recalText(rc) {
  if (!rc || typeof rc !== 'object') return null;
  return `recalibrated on the latest labelled window ${rc.window_from} .. ${rc.window_to} ` +
    `(${nf0.format(rc.rows)} rows, churn ${pct(rc.observed)}; mean prediction there ${pct(rc.mean_before)} → ${pct(rc.mean_after)})`;
}

// Backtest results come from the model subsystem; these accessors accept
// the shapes documented in docs/dashboard.md and ignore what they do not know.
function pairs(v, kx, ky) {
  if (!v) return null;
  if (Array.isArray(v) && v.length && Array.isArray(v[0])) return [v.map((p) => p[0]), v.map((p) => p[1])];
  if (Array.isArray(v)) return [v.map((p) => p[kx]), v.map((p) => p[ky])];
  if (Array.isArray(v[kx]) && Array.isArray(v[ky])) return [v[kx], v[ky]];
  return null;
}

async function qualityPage() {
  const main = shell('quality');
  main.append(h('h1', {}, 'Score quality (backtests)'));
  let models = null;
  try { models = await api('/models'); } catch (e) { if (e.status !== 404) { showError(main, e); return; } }
  const model = models && models.items.length ? models.items[0] : null;
  if (model) {
    const t = model.test || {};
    const sec = h('section', { class: 'card wide', id: 'model' },
      h('h2', {}, `${model.active ? 'Active model' : 'Latest model'}: ${model.name}`),
      h('p', { class: 'muted' }, `${model.kind}, ${model.library || ''}; ${model.horizon_days || '?'}-day horizon; held-out ROC AUC ${t.roc_auc != null ? num(t.roc_auc, 3) : '—'}` +
        (t.lift_top10 != null ? `, lift in the riskiest 10% ${num(t.lift_top10, 2)}` : '')));
    const imp = (model.importance || []).slice(0, 10);
    if (imp.length) {
      sec.append(h('h3', {}, 'What it looks at most (share of its mean contribution on the test rows)'));
      sec.append(h('table', { class: 'list', id: 'model-importance' },
        h('thead', {}, h('tr', {}, h('th', {}, 'metric'), h('th', {}, 'family'), h('th', { class: 'num' }, 'share'), h('th', {}, 'riskier when'))),
        h('tbody', {}, imp.map((d) => h('tr', {}, h('td', {}, d.metric), h('td', {}, d.family), h('td', { class: 'num' }, `${num(100 * d.share, 1)}%`),
          h('td', {}, d.direction > 0 ? 'higher' : d.direction < 0 ? 'lower' : '—'))))));
    }
    const calm = model.calibration || {};
    const rt = recalText(calm.recalibration);
    if (t.calibration) {
      sec.append(h('h3', {}, 'Calibration on the test rows'));
      const dt = decileTable(t.calibration, 'model-deciles');
      if (dt) sec.append(dt);
      const trt = recalText(calm.test_recalibration);
      if (trt) sec.append(h('p', { class: 'muted small' }, `Tested as ${trt}; with the calibration slice's Platt alone the mean test prediction was ${pct(calm.test_mean_platt_only)}.`));
    }
    if (rt) sec.append(h('p', { class: 'muted small', id: 'model-recalibration' }, `The saved model is ${rt}.`));
    main.append(sec);
  }
  let res;
  try { res = await api('/backtests'); } catch (e) { showError(main, e); return; }
  if (!res.items.length) {
    main.append(h('p', { class: 'muted' }, 'No backtest yet. Run the backtest (`churnwatch backtest`) to see ROC, calibration and lead time.'));
    return;
  }
  for (const b of res.items.slice(0, 3)) {
    const r = b.result || {};
    // `churnwatch backtest` nests the figures under "metrics" and the
    // early-warning summary under "lead_time"; flat results are read too.
    const m = r.metrics && typeof r.metrics === 'object' && !Array.isArray(r.metrics) ? r.metrics : {};
    const lt = r.lead_time && typeof r.lead_time === 'object' && !Array.isArray(r.lead_time) ? r.lead_time : {};
    const sec = h('section', { class: 'card wide backtest', 'data-subject': b.subject }, h('h2', {}, `${b.subject} — ${b.at}`));
    const isScalar = ([, v]) => typeof v === 'number' || typeof v === 'string';
    const scalars = [...Object.entries(r), ...Object.entries(m), ...Object.entries(lt).map(([k, v]) => [`lead_time_${k}`, v])].filter(isScalar);
    if (scalars.length) sec.append(h('dl', { class: 'facts' }, scalars.map(([k, v]) => h('div', { 'data-key': k }, h('dt', {}, k.replace(/_/g, ' ')), h('dd', {}, typeof v === 'number' ? num(v, 3) : v)))));
    const grid = h('div', { class: 'grid' });
    sec.append(grid);
    const roc = pairs(r.roc || m.roc, 'fpr', 'tpr');
    if (roc) {
      const order = roc[0].map((_, i) => i).sort((i, j) => roc[0][i] - roc[0][j]);
      const xs = order.map((i) => roc[0][i]);
      chart(grid, 'ROC curve', [{ label: 'TPR', stroke: COLOURS[0], width: 2 }, { label: 'chance', stroke: '#999', dash: [4, 4] }],
        [xs, order.map((i) => roc[1][i]), xs], { time: false, scales: { x: { time: false, range: [0, 1] }, y: { range: [0, 1] } } });
    }
    const calRows = r.calibration || m.calibration;
    const withScore = Array.isArray(calRows) && calRows.length && calRows[0] && calRows[0].mean_score !== undefined;
    const cal = withScore ? pairs(calRows, 'mean_score', 'observed') : pairs(calRows, 'predicted', 'observed');
    if (cal && cal[0].every((x) => typeof x === 'number')) {
      chart(grid, 'Calibration: predicted vs observed churn', [{ label: 'observed', stroke: COLOURS[1], width: 2, points: { show: true } }, { label: 'perfect', stroke: '#999', dash: [4, 4] }],
        [cal[0], cal[1], cal[0]], { time: false, scales: { x: { time: false, range: [0, 1] }, y: { range: [0, 1] } } });
    } else {
      // A scorecard's score is no probability: observed churn per decile of risk.
      const dec = pairs(calRows, 'decile', 'observed');
      if (dec && dec[0].every((x) => typeof x === 'number')) {
        chart(grid, 'Observed churn by decile of risk', [{ label: 'observed', stroke: COLOURS[1], width: 2, points: { show: true } }],
          [dec[0], dec[1]], { time: false, scales: { x: { time: false }, y: { range: [0, 1] } } });
      }
    }
    const dt = decileTable(calRows, null);
    if (dt) sec.append(dt);
    const br = r.base_rate && typeof r.base_rate === 'object' ? r.base_rate : null;
    if (br) {
      sec.append(h('p', { class: 'muted small base-rate' }, `Mean prediction on the test rows ${pct(br.mean_predicted)}, observed churn ${pct(br.observed)}` +
        (br.mean_predicted_platt_only != null ? `; with the calibration slice's Platt alone ${pct(br.mean_predicted_platt_only)}` : '') +
        (recalText(br.recalibration) ? `; ${recalText(br.recalibration)}.` : '.')));
    }
    if (r.flag && typeof r.flag === 'object') {
      sec.append(h('p', { class: 'muted small flag-rule' }, `Flagged: ${r.flag.rule} of each test day's scored rows (${nf0.format(r.flag.rows)} rows); lead time and missed churns count those.`));
    }
    const lead = pairs(r.lead_time, 'days', 'share') || pairs(r.lead_time_histogram, 'days', 'count');
    if (lead) chart(grid, 'Lead time: days of warning before churn', [{ label: 'churned accounts', stroke: COLOURS[2], width: 2 }], [lead[0], lead[1]], { time: false, scales: { x: { time: false } } });
    sec.append(h('details', {}, h('summary', {}, 'Full result (JSON)'), h('pre', {}, JSON.stringify(r, null, 2))));
    main.append(sec);
  }
}

// ---- router ----------------------------------------------------------------------------

async function route() {
  if (!STATIC && !session) {
    // A session cookie (HttpOnly: not visible here) or a token of this tab.
    try { session = await api('/session'); } catch (e) { loginPage(e.status === 401 ? 'Your session has expired: please sign in again.' : e.message); return; }
    if (!session.signed_in) { session = null; loginPage(); return; }
  }
  const hash = location.hash.replace(/^#\/?/, '');
  const [page, ...rest] = hash.split('/');
  try {
    if (page === 'account' && rest.length) await accountPage(decodeURIComponent(rest.join('/')));
    else if (page === 'retention') await retentionPage();
    else if (page === 'quality') await qualityPage();
    else if (page === 'alerts') await alertsPage();
    else await atRiskPage();
  } catch (e) {
    if (e.status === 401) loginPage('Please sign in again.');
    else showError(document.getElementById('main') || app, e);
  }
  const h1 = document.querySelector('main h1');
  document.title = h1 ? `${h1.textContent} — churnwatch` : 'churnwatch';
}

window.addEventListener('hashchange', route);
route();
