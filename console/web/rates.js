// The rate language in the browser: loads the `dsl` crate compiled to WebAssembly
// (console/wasm) and calls its one JSON function. The module imports nothing; it exports
// `memory`, `console_input(len) -> ptr`, `console_call() -> len` and `console_output() -> ptr`.

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export async function loadRates(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`cannot load ${url}: ${response.status}`);
  const bytes = await response.arrayBuffer();
  const { instance } = await WebAssembly.instantiate(bytes, {});
  const exports = instance.exports;

  function call(request) {
    const input = encoder.encode(JSON.stringify(request));
    const pointer = exports.console_input(input.length);
    // The memory may have grown: view it after every call that allocates.
    new Uint8Array(exports.memory.buffer, pointer, input.length).set(input);
    const length = exports.console_call();
    const output = new Uint8Array(exports.memory.buffer, exports.console_output(), length);
    return JSON.parse(decoder.decode(output));
  }

  return {
    analyse: (name, source) => call({ op: 'analyse', name, source }),
    quote: (name, source, query) => call({ op: 'quote', name, source, ...query }),
    compare: (name, source, baseName, baseSource) =>
      call({ op: 'compare', name, source, base_name: baseName, base_source: baseSource }),
  };
}
