// The account explorer: balance, buckets, entries (the API's filters, CSV export), cycle
// statements and holds of one account, through the ordinary API with the key typed in (kept
// in this tab only). An admin can refund a charge from its row. Errors show the problem's
// `detail` (and `help` when it has one), never raw JSON.

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  for (const child of children) node.append(child);
  return node;
};
// Most entries fetched per page (the API's own limit applies too).
const PAGE = 100;

let cursor = null;

const base = () => ($('api-base').value.trim() || location.origin).replace(/\/$/, '');
const accountPath = () => `${base()}/v1/accounts/${encodeURIComponent($('account').value.trim())}`;

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { authorization: `Bearer ${$('api-key').value}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    let help = '';
    try {
      const problem = await response.json();
      detail = problem.detail || problem.title || detail;
      help = problem.help || '';
    } catch { /* not a problem document: the status says it */ }
    const error = new Error(detail);
    error.help = help;
    throw error;
  }
  return response;
}

function showProblem(error) {
  const box = $('problem');
  if (!error) { box.hidden = true; box.replaceChildren(); return; }
  box.hidden = false;
  box.replaceChildren(el('span', { className: 'detail', textContent: error.message }));
  if (error.help) box.append(el('span', { className: 'help', textContent: `help: ${error.help}` }));
}

async function guarded(action) {
  try { showProblem(null); await action(); } catch (error) { showProblem(error); }
}

async function loadBalance() {
  const balance = await (await api('GET', `${accountPath()}/balance`)).json();
  $('balance-at').textContent = `at ${balance.at}`;
  const units = Object.entries(balance.units);
  $('balance').tBodies[0].replaceChildren(...units.map(([unit, body]) => {
    const row = el('tr');
    row.dataset.unit = unit;
    row.dataset.available = body.available;
    row.append(el('td', { textContent: unit }), el('td', { textContent: body.available }),
      el('td', { textContent: body.held }), el('td', { textContent: body.credit_line_left }));
    return row;
  }));
  $('buckets').tBodies[0].replaceChildren(...units.flatMap(([unit, body]) => body.buckets.map((bucket) => {
    const row = el('tr');
    row.append(el('td', { textContent: unit }), el('td', { textContent: bucket.kind }),
      el('td', { textContent: bucket.left }), el('td', { textContent: bucket.held }),
      el('td', { textContent: bucket.granted }), el('td', { textContent: bucket.expires_at || 'never' }));
    return row;
  })));
}

function filterQuery() {
  const query = new URLSearchParams();
  const add = (key, id) => { const value = $(id).value.trim(); if (value) query.set(key, value); };
  add('type', 'filter-type');
  add('feature', 'filter-feature');
  add('project', 'filter-project');
  add('member', 'filter-member');
  add('from', 'filter-from');
  add('to', 'filter-to');
  return query;
}

async function loadEntries(append) {
  const query = filterQuery();
  query.set('limit', String(PAGE));
  if (append && cursor) query.set('cursor', cursor);
  const page = await (await api('GET', `${accountPath()}/entries?${query}`)).json();
  cursor = page.next_cursor || null;
  $('more').hidden = !cursor;
  const rows = page.entries.map(entryRow);
  if (append) $('entries').tBodies[0].append(...rows); else $('entries').tBodies[0].replaceChildren(...rows);
  renderSpend();
}

// Charges (negative amounts) less their refunds, per day (UTC) and feature, of the entries
// on the page, one unit at a time (the first one met).
const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2'];

function renderSpend() {
  const rows = [...$('entries').tBodies[0].rows];
  const spend = new Map(); // day → Map(feature → amount)
  const features = [];
  let unit = null;
  for (const row of rows) {
    const { type, amount, feature, day, unit: rowUnit } = row.dataset;
    if (!feature || (type !== 'charge' && type !== 'capture' && type !== 'refund')) continue;
    unit = unit || rowUnit;
    if (rowUnit !== unit) continue;
    const value = -Number(amount);
    if (!features.includes(feature)) features.push(feature);
    if (!spend.has(day)) spend.set(day, new Map());
    const perFeature = spend.get(day);
    perFeature.set(feature, (perFeature.get(feature) || 0) + value);
  }
  const days = [...spend.keys()].sort();
  const chart = $('spend-chart');
  const table = $('spend-table');
  if (!days.length) {
    chart.replaceChildren(el('p', { textContent: 'No charges among the entries shown.' }));
    table.tHead.replaceChildren();
    table.tBodies[0].replaceChildren();
    return;
  }
  const totals = days.map((day) => features.reduce((sum, feature) => sum + Math.max(0, spend.get(day).get(feature) || 0), 0));
  const top = Math.max(...totals, 1e-9);
  const NS = 'http://www.w3.org/2000/svg';
  const svgEl = (tag, attributes) => {
    const node = document.createElementNS(NS, tag);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
    return node;
  };
  const barWidth = 28, gap = 10, height = 160, left = 60, bottom = 40;
  const width = left + days.length * (barWidth + gap) + 160;
  const svg = svgEl('svg', { viewBox: `0 0 ${width} ${height + bottom}`, width, height: height + bottom, role: 'img' });
  svg.setAttribute('aria-label', `spend in ${unit} per feature and day; the same numbers are in the table below`);
  svg.append(svgEl('line', { x1: left, y1: height, x2: width - 160, y2: height, stroke: '#555' }));
  const label = (x, y, text, anchor = 'start') => {
    const node = svgEl('text', { x, y, 'font-size': 11, 'text-anchor': anchor, fill: '#222' });
    node.textContent = text;
    return node;
  };
  svg.append(label(left - 6, 12, `${Math.round(top * 100) / 100} ${unit}`, 'end'), label(left - 6, height, '0', 'end'));
  days.forEach((day, index) => {
    let y = height;
    const x = left + index * (barWidth + gap);
    features.forEach((feature, featureIndex) => {
      const value = Math.max(0, spend.get(day).get(feature) || 0);
      const barHeight = (value / top) * (height - 10);
      if (barHeight > 0) {
        y -= barHeight;
        svg.append(svgEl('rect', { x, y, width: barWidth, height: barHeight, fill: PALETTE[featureIndex % PALETTE.length] }));
      }
    });
    svg.append(label(x + barWidth / 2, height + 14, day.slice(5), 'middle'));
  });
  features.forEach((feature, index) => {
    const y = 14 + index * 16;
    svg.append(svgEl('rect', { x: width - 150, y: y - 10, width: 10, height: 10, fill: PALETTE[index % PALETTE.length] }),
      label(width - 135, y, feature));
  });
  chart.replaceChildren(svg);
  table.tHead.replaceChildren(el('tr', {}, el('th', { scope: 'col', textContent: 'Day' }),
    ...features.map((feature) => el('th', { scope: 'col', textContent: `${feature} (${unit})` }))));
  table.tBodies[0].replaceChildren(...days.map((day) => el('tr', {}, el('th', { scope: 'row', textContent: day }),
    ...features.map((feature) => el('td', { textContent: String(Math.round((spend.get(day).get(feature) || 0) * 1e6) / 1e6) })))));
}

function entryRow(entry) {
  const row = el('tr');
  row.dataset.type = entry.type;
  row.dataset.operation = entry.operation;
  row.dataset.amount = entry.amount;
  row.dataset.day = entry.at.slice(0, 10);
  if (entry.feature) row.dataset.feature = entry.feature;
  if (entry.unit) row.dataset.unit = entry.unit;
  const action = el('td');
  if (entry.type === 'charge') {
    const button = el('button', { type: 'button', className: 'refund', textContent: 'Refund…' });
    button.setAttribute('aria-label', `Refund charge ${entry.operation}`);
    button.addEventListener('click', () => openRefund(action, entry));
    action.append(button);
  }
  row.append(el('td', { textContent: entry.seq }), el('td', { textContent: entry.at }),
    el('td', { textContent: entry.type }), el('td', { textContent: entry.operation }),
    el('td', { textContent: entry.unit ? `${entry.amount} ${entry.unit}` : entry.amount }),
    el('td', { textContent: entry.feature || '' }), action);
  return row;
}

// An inline form in the charge's row: reason (required), amount (optional: all of it).
function openRefund(cell, entry) {
  const id = `refund-${entry.seq}`;
  const form = el('form', { className: 'refund-form' });
  form.setAttribute('aria-label', `Refund charge ${entry.operation}`);
  const reason = el('input', { id: `${id}-reason`, required: true, size: 12 });
  const amount = el('input', { id: `${id}-amount`, size: 8, placeholder: 'all' });
  form.append(el('label', { htmlFor: reason.id, textContent: 'Reason' }), reason,
    el('label', { htmlFor: amount.id, textContent: 'Amount' }), amount,
    el('button', { type: 'submit', textContent: 'Refund' }));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    guarded(async () => {
      const body = { id: `console-${entry.operation}-${Date.now()}`, charge: entry.operation, reason: reason.value.trim() };
      if (amount.value.trim()) { body.amount = amount.value.trim(); if (entry.unit) body.unit = entry.unit; }
      await api('POST', `${accountPath()}/refunds`, body);
      await Promise.all([loadBalance(), loadEntries(false)]);
    });
  });
  cell.replaceChildren(form);
  reason.focus();
}

async function exportCsv() {
  const query = filterQuery();
  query.set('format', 'csv');
  const blob = await (await api('GET', `${accountPath()}/entries?${query}`)).blob();
  const link = el('a', { href: URL.createObjectURL(blob), download: `${$('account').value.trim()}-entries.csv` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

async function show(path, target) {
  const body = await (await api('GET', path)).json();
  $(target).textContent = JSON.stringify(body, null, 2);
}

$('connect').addEventListener('submit', (event) => {
  event.preventDefault();
  guarded(async () => {
    cursor = null;
    await Promise.all([loadBalance(), loadEntries(false)]);
    document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
  });
});
$('filters').addEventListener('submit', (event) => { event.preventDefault(); guarded(() => loadEntries(false)); });
$('more').addEventListener('click', () => guarded(() => loadEntries(true)));
$('export-csv').addEventListener('click', () => guarded(exportCsv));
$('statement-form').addEventListener('submit', (event) => {
  event.preventDefault();
  guarded(() => show(`${accountPath()}/statements/${encodeURIComponent($('statement-cycle').value.trim())}`, 'statement'));
});
$('hold-form').addEventListener('submit', (event) => {
  event.preventDefault();
  guarded(() => show(`${accountPath()}/holds/${encodeURIComponent($('hold-id').value.trim())}`, 'hold'));
});
$('statement-cycle').value = new Date().toISOString().slice(0, 7);
document.body.dataset.ready = 'true';
