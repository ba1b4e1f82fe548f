// The rate playground: edit a `.rates` file with highlighting, see `credits rates check`'s
// diagnostics as you type, quote any feature, run the examples, and compare with the version
// the server has loaded. Everything is computed in the browser by the rate language compiled
// to WebAssembly (rates.js); the server is only asked for its books (`books`).

import { loadRates } from './rates.js';
import { compileGrammar, highlight } from './highlight.js';

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  for (const child of children) node.append(child);
  return node;
};

const STARTER = `book example
title "Example"
effective 2025-01-01

unit credit scale 2 round half-up

feature video "Video" {
  input duration: duration max 4h
  input model: choice(standard, pro)
  base 10 credit per minute when model is standard
  base 20 credit per minute when model is pro
}

expect video(duration: 3m30s, model: pro) = 70 credit
`;

// Keystroke → diagnostics shown, in ms, the last 200 analyses (read by the browser test).
const timings = [];
window.consoleTimings = timings;

const state = {
  rates: null,
  rules: [],
  books: [],        // [{ name, file, source }] the server loaded
  analysis: null,   // the last `analyse` response
  formKey: '',      // the quote form's shape, rebuilt only when it changes
  pending: false,
};

// ---- start ---------------------------------------------------------------------------------

async function start() {
  const [rates, grammar, books] = await Promise.all([
    loadRates('rates.wasm'),
    fetch('rates.tmLanguage.json').then((response) => response.json()),
    fetch('books').then((response) => (response.ok ? response.json() : []))
      .catch(() => []),
  ]);
  state.rates = rates;
  state.rules = compileGrammar(grammar);
  state.books = Array.isArray(books) ? books : [];

  const select = $('book-select');
  if (state.books.length) select.replaceChildren();
  for (const book of state.books) select.append(el('option', { value: book.file, textContent: book.file }));

  const shared = await readShared();
  if (shared) {
    $('file-name').value = shared.file;
    $('source').value = shared.source;
    const match = state.books.find((book) => book.file === shared.file);
    if (match) select.value = match.file;
  } else if (state.books.length) {
    loadServerBook(state.books[0].file);
  } else {
    $('source').value = STARTER;
  }

  $('source').addEventListener('input', onEdit);
  $('source').addEventListener('scroll', syncScroll);
  $('file-name').addEventListener('input', onEdit);
  select.addEventListener('change', () => loadServerBook(select.value));
  $('reset').addEventListener('click', () => loadServerBook(select.value));
  $('download').addEventListener('click', download);
  $('share').addEventListener('click', share);
  $('quote-form').addEventListener('submit', (event) => { event.preventDefault(); runQuote(); });
  $('quote-form').addEventListener('change', (event) => {
    if (event.target.id === 'quote-feature') buildForm(true);
    runQuote();
  });
  analyse(performance.now());
  document.body.dataset.ready = 'true';
}

function loadServerBook(file) {
  const book = state.books.find((candidate) => candidate.file === file);
  if (!book) return;
  $('file-name').value = book.file;
  $('source').value = book.source;
  analyse(performance.now());
}

// ---- editing -------------------------------------------------------------------------------

function onEdit() {
  const typedAt = performance.now();
  // One analysis per frame however fast the typing.
  if (state.pending) return;
  state.pending = true;
  requestAnimationFrame(() => { state.pending = false; analyse(typedAt); });
}

function syncScroll() {
  const pre = document.querySelector('.editor pre');
  pre.scrollTop = $('source').scrollTop;
  pre.scrollLeft = $('source').scrollLeft;
}

function analyse(typedAt) {
  const source = $('source').value;
  const name = $('file-name').value.trim() || 'example.rates';
  const analysis = state.rates.analyse(name, source);
  state.analysis = analysis;
  const diagnostics = analysis.diagnostics || [];
  const marks = diagnostics.flatMap((diagnostic) =>
    (diagnostic.labels.length ? diagnostic.labels : [diagnostic]).map((label) => [label.start, label.end]));
  $('highlight').innerHTML = highlight(state.rules, source, marks);
  syncScroll();
  renderDiagnostics(diagnostics, analysis.more_diagnostics || 0);
  if (analysis.book) {
    buildForm(false);
    renderExpects(analysis.expects || []);
    runQuote();
    compare(name, source);
  } else {
    // Nothing below may show results of an earlier text.
    const stale = 'The file does not compile: fix its errors to see this.';
    $('quote-error').hidden = false;
    $('quote-error').replaceChildren(el('span', { textContent: stale }));
    $('quote-total').textContent = '';
    $('quote-amounts').replaceChildren();
    $('quote-lines').replaceChildren();
    $('expects-summary').textContent = '';
    $('expects').tBodies[0].replaceChildren();
    $('compare-summary').textContent = stale;
    $('compare').tBodies[0].replaceChildren();
    $('compare-text').textContent = '';
  }
  // Read by the browser test (and shown nowhere): keystroke → diagnostics on screen.
  const elapsed = performance.now() - typedAt;
  document.body.dataset.analyseMs = elapsed.toFixed(2);
  timings.push(elapsed);
  if (timings.length > 200) timings.shift();
  document.body.dataset.analysed = String(Number(document.body.dataset.analysed || 0) + 1);
}

function renderDiagnostics(diagnostics, more) {
  const list = $('diagnostics');
  const status = $('check-status');
  if (!diagnostics.length) {
    list.replaceChildren(el('li', { className: 'ok', textContent: 'no errors' }));
    status.textContent = '— no errors';
    return;
  }
  const count = diagnostics.length + more;
  status.textContent = `— ${count} error${count === 1 ? '' : 's'}`;
  list.replaceChildren(...diagnostics.map((diagnostic) => {
    const item = el('li', { className: 'diagnostic' });
    item.dataset.line = diagnostic.line;
    item.dataset.column = diagnostic.column;
    const where = el('button', {
      type: 'button', className: 'where',
      textContent: `line ${diagnostic.line}, column ${diagnostic.column}`,
      title: 'Move the cursor there',
    });
    where.addEventListener('click', () => {
      const textarea = $('source');
      textarea.focus();
      textarea.setSelectionRange(diagnostic.start, Math.max(diagnostic.end, diagnostic.start));
    });
    item.append(where, ': ', el('span', { className: 'message', textContent: diagnostic.message }));
    if (diagnostic.label) item.append(el('span', { className: 'label', textContent: ` (${diagnostic.label})` }));
    if (diagnostic.help) item.append(el('span', { className: 'help', textContent: `help: ${diagnostic.help}` }));
    return item;
  }));
  if (more) list.append(el('li', { textContent: `and ${more} more` }));
}

// ---- quote ---------------------------------------------------------------------------------

function buildForm(featureChanged) {
  const book = state.analysis.book;
  const featureSelect = $('quote-feature');
  const chosen = featureSelect.value;
  const key = JSON.stringify([book.features, book.plans, book.channels]);
  if (key === state.formKey && !featureChanged) return;
  state.formKey = key;
  const names = book.features.map((feature) => feature.name);
  featureSelect.replaceChildren(...book.features.map((feature) =>
    el('option', { value: feature.name, textContent: feature.title ? `${feature.name} — ${feature.title}` : feature.name })));
  featureSelect.value = names.includes(chosen) ? chosen : (names[0] || '');

  const planSelect = $('quote-plan');
  const plan = planSelect.value;
  planSelect.replaceChildren(el('option', { value: '', textContent: '(none)' }),
    ...book.plans.map((name) => el('option', { value: name, textContent: name })));
  planSelect.value = book.plans.includes(plan) ? plan : '';
  const channels = book.channels || [];
  $('quote-channel-field').hidden = !channels.length;
  $('quote-channel').replaceChildren(...channels.map((name) => el('option', { value: name, textContent: name })));

  const feature = book.features.find((candidate) => candidate.name === featureSelect.value);
  const container = $('quote-inputs');
  const previous = Object.fromEntries([...container.querySelectorAll('[data-input]')]
    .map((field) => [field.dataset.input, field.value]));
  container.replaceChildren();
  if (!feature) return;
  for (const input of feature.inputs) {
    const id = `input-${input.name}`;
    let field;
    if (input.kind === 'choice' || input.kind === 'flag') {
      const options = input.kind === 'choice' ? input.choices : ['yes', 'no'];
      field = el('select', { id });
      if (input.default != null) field.append(el('option', { value: '', textContent: `(default: ${input.default})` }));
      for (const option of options) field.append(el('option', { value: option, textContent: option }));
    } else {
      field = el('input', { id, type: 'text', inputMode: input.kind === 'duration' || input.kind === 'data' ? 'text' : 'decimal', autocomplete: 'off', spellcheck: false });
      field.placeholder = input.kind === 'duration' ? 'e.g. 3m30s' : input.kind === 'data' ? 'e.g. 2 GB' : 'e.g. 10';
    }
    field.dataset.input = input.name;
    if (previous[input.name] !== undefined) field.value = previous[input.name];
    const hints = [input.kind];
    if (input.default != null) hints.push(`default ${input.default}`);
    if (input.min != null) hints.push(`min ${input.min}`);
    if (input.max != null) hints.push(`max ${input.max}`);
    const hint = el('span', { className: 'hint', id: `${id}-hint`, textContent: hints.join(', ') });
    field.setAttribute('aria-describedby', hint.id);
    container.append(el('div', { className: 'field' }, el('label', { htmlFor: id, textContent: input.name }), field, hint));
  }
}

function quoteQuery() {
  const inputs = {};
  for (const field of $('quote-inputs').querySelectorAll('[data-input]')) {
    if (field.value.trim() !== '') inputs[field.dataset.input] = field.value.trim();
  }
  return {
    feature: $('quote-feature').value,
    inputs,
    plan: $('quote-plan').value,
    channel: $('quote-channel-field').hidden ? '' : $('quote-channel').value,
    first_request: $('quote-first').checked,
    outcome: $('quote-outcome').value,
  };
}

function runQuote() {
  const analysis = state.analysis;
  const error = $('quote-error');
  if (!analysis || !analysis.book || !$('quote-feature').value) return;
  const result = state.rates.quote($('file-name').value.trim() || 'example.rates', $('source').value, quoteQuery());
  if (!result.ok) {
    $('quote-total').textContent = '';
    $('quote-amounts').replaceChildren();
    $('quote-lines').replaceChildren();
    error.hidden = false;
    error.replaceChildren(el('span', { textContent: result.error.message }));
    if (result.error.help) error.append(el('span', { className: 'help', textContent: `help: ${result.error.help}` }));
    return;
  }
  error.hidden = true;
  $('quote-total').textContent = result.total;
  $('quote-amounts').replaceChildren(...Object.entries(result.amounts).map(([unit, amount]) => {
    const item = el('li', { textContent: `${amount} ${unit}` });
    item.dataset.unit = unit;
    item.dataset.amount = amount;
    return item;
  }));
  $('quote-lines').replaceChildren(...result.lines.map((line) => el('li', { textContent: line })));
}

// ---- examples and comparison ---------------------------------------------------------------

function renderExpects(expects) {
  const failed = expects.filter((expect) => !expect.passed).length;
  $('expects-summary').textContent = expects.length
    ? `— ${expects.length - failed} of ${expects.length} pass` : '— none';
  $('expects').tBodies[0].replaceChildren(...expects.map((expect) => {
    const row = el('tr');
    row.append(el('td', { textContent: expect.line }), el('td', { textContent: expect.example || '' }),
      el('td', { textContent: expect.want }),
      el('td', { textContent: expect.got != null ? expect.got : `no price: ${expect.error}` }),
      el('td', { className: expect.passed ? 'pass' : 'fail', textContent: expect.passed ? 'pass' : 'FAIL' }));
    return row;
  }));
}

function compare(name, source) {
  // The server's version of this book: the one selected if it is this book, else its latest.
  const bookName = state.analysis.book.name;
  const base = state.books.find((book) => book.file === $('book-select').value && book.name === bookName)
    || state.books.find((book) => book.name === bookName);
  const body = $('compare').tBodies[0];
  if (!base) {
    $('compare-summary').textContent = 'The server has no version of this book.';
    body.replaceChildren();
    $('compare-text').textContent = '';
    return;
  }
  const result = state.rates.compare(name, source, base.file, base.source);
  if (!result.ok) {
    $('compare-summary').textContent = result.error.message;
    body.replaceChildren();
    return;
  }
  const changed = result.prices.length;
  $('compare-summary').textContent = result.identical
    ? `Same as the server's ${base.file}.`
    : `${changed} example${changed === 1 ? '' : 's'} change price against the server's ${base.file}; ${result.unchanged_examples} do not.`;
  body.replaceChildren(...result.prices.map((price) => {
    const row = el('tr');
    row.append(el('td', { textContent: price.example }), el('td', { textContent: price.old }),
      el('td', { textContent: price.new }), el('td', { textContent: price.change }));
    return row;
  }));
  $('compare-text').textContent = result.text;
}

// ---- download and share --------------------------------------------------------------------

function download() {
  const blob = new Blob([$('source').value], { type: 'text/plain' });
  const link = el('a', { href: URL.createObjectURL(blob), download: $('file-name').value.trim() || 'example.rates' });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

const toBase64Url = (bytes) => {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
};
const fromBase64Url = (text) => {
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(binary, (character) => character.charCodeAt(0));
};
const pipe = async (bytes, stream) =>
  new Uint8Array(await new Response(new Blob([bytes]).stream().pipeThrough(stream)).arrayBuffer());

// The link carries the file in its fragment (never sent to a server): deflated, base64url.
async function share() {
  const packed = await pipe(new TextEncoder().encode($('source').value), new CompressionStream('deflate-raw'));
  const fragment = `file=${encodeURIComponent($('file-name').value.trim())}&rates=${toBase64Url(packed)}`;
  const url = `${location.origin}${location.pathname}#${fragment}`;
  history.replaceState(null, '', `#${fragment}`);
  const status = $('share-status');
  status.replaceChildren(el('a', { href: url, id: 'share-link', textContent: 'share link' }));
  try { await navigator.clipboard.writeText(url); status.append(' (copied)'); } catch { /* shown instead */ }
}

async function readShared() {
  const parameters = new URLSearchParams(location.hash.slice(1));
  const packed = parameters.get('rates');
  if (!packed) return null;
  try {
    const bytes = await pipe(fromBase64Url(packed), new DecompressionStream('deflate-raw'));
    return { file: parameters.get('file') || 'example.rates', source: new TextDecoder().decode(bytes) };
  } catch {
    return null;
  }
}

start().catch((error) => {
  document.body.dataset.ready = 'failed';
  $('diagnostics').replaceChildren(el('li', { textContent: `the console could not start: ${error.message}` }));
});
