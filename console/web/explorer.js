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
}

function entryRow(entry) {
  const row = el('tr');
  row.dataset.type = entry.type;
  row.dataset.operation = entry.operation;
  row.dataset.amount = entry.amount;
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
