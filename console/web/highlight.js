// A small interpreter of the `.rates` TextMate grammar (editors/rates.tmLanguage.json): the
// top-level `match` patterns, with `include`s and `captures`, are tried at each position of a
// line; the earliest match wins (the first pattern on a tie), as in TextMate for single-line
// rules. The grammar has no `begin`/`end` rules, so lines are independent.

export function compileGrammar(grammar) {
  const rules = [];
  const add = (pattern) => {
    if (pattern.include) {
      const name = pattern.include.replace(/^#/, '');
      const found = grammar.repository && grammar.repository[name];
      if (found) add(found);
      return;
    }
    if (pattern.patterns) { pattern.patterns.forEach(add); return; }
    if (!pattern.match) return;
    rules.push({
      regex: new RegExp(pattern.match, 'gu'),
      name: pattern.name || '',
      captures: pattern.captures || null,
    });
  };
  grammar.patterns.forEach(add);
  return rules;
}

const escapeHtml = (text) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

// CSS class of a scope: `keyword.control.rates` → `tm-keyword tm-keyword-control`.
const classOf = (scope) => {
  const parts = scope.split('.').filter((part) => part !== 'rates');
  return parts.map((_, index) => 'tm-' + parts.slice(0, index + 1).join('-')).join(' ');
};

// Tokens of one line: [{ text, scope }], covering the line.
export function tokenizeLine(rules, line) {
  const tokens = [];
  let position = 0;
  while (position < line.length) {
    let best = null;
    for (const rule of rules) {
      rule.regex.lastIndex = position;
      const match = rule.regex.exec(line);
      if (match && match[0].length > 0 && (!best || match.index < best.match.index)) {
        best = { rule, match };
      }
    }
    if (!best) { tokens.push({ text: line.slice(position), scope: '' }); break; }
    const { rule, match } = best;
    if (match.index > position) tokens.push({ text: line.slice(position, match.index), scope: '' });
    if (rule.captures) {
      // Captures are consecutive groups separated by plain text (as the grammar writes them).
      let offset = match.index;
      let rest = match[0];
      for (let group = 1; group < match.length; group += 1) {
        const text = match[group];
        if (text === undefined) continue;
        const at = rest.indexOf(text);
        if (at > 0) tokens.push({ text: rest.slice(0, at), scope: rule.name });
        const capture = rule.captures[String(group)];
        tokens.push({ text, scope: capture ? capture.name : rule.name });
        rest = rest.slice(at + text.length);
        offset += at + text.length;
      }
      if (rest.length) tokens.push({ text: rest, scope: rule.name });
    } else {
      tokens.push({ text: match[0], scope: rule.name });
    }
    position = match.index + match[0].length;
  }
  return tokens;
}

// HTML of `source`, highlighted; `marks` are [start, end) UTF-16 ranges shown as errors.
export function highlight(rules, source, marks = []) {
  const lines = source.split('\n');
  let offset = 0;
  const html = [];
  for (const line of lines) {
    const lineStart = offset;
    let column = lineStart;
    const pieces = [];
    for (const token of tokenizeLine(rules, line)) {
      const start = column;
      const end = column + token.text.length;
      column = end;
      const marked = marks.some(([from, to]) => from < end && (to > start || (to === from && from === start)));
      const classes = [token.scope ? classOf(token.scope) : '', marked ? 'tm-error' : '']
        .filter(Boolean).join(' ');
      const text = escapeHtml(token.text);
      pieces.push(classes ? `<span class="${classes}">${text}</span>` : text);
    }
    // An error on an empty line or at its end still shows.
    if (marks.some(([from]) => from === column && from >= lineStart && line.length === column - lineStart)) {
      pieces.push('<span class="tm-error"> </span>');
    }
    html.push(pieces.join(''));
    offset = column + 1;
  }
  // A trailing newline needs a line of its own for the overlay to keep the textarea's height.
  return html.join('\n') + '\n';
}
