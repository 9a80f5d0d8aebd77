// The report engine, off the page's main thread so that the page stays responsive while the
// wasm module works (a full report takes seconds). Messages in: {type: "columns", file} and
// {type: "run", real, synthetic, holdout, options} and {type: "privacy", mode: "epsilon" |
// "noise", ...arguments}. Messages out: "ready", "columns", "progress", "done", "privacy" (the
// calculator's answer as JSON) and "error" (with `fatal: true` after a panic, when this worker's wasm
// instance must not be used again).
import init, { report, columnNames, privacyEpsilon, privacyNoise } from "./pkg/doppel_report.js";

// The wasm panic hook calls this with the panic's message just before the module traps.
let panicMessage = null;
self.onDoppelPanic = (message) => {
  panicMessage = message;
};

// Resolves to whether the module loaded; a failure is reported once, here.
const ready = init().then(
  () => {
    self.postMessage({ type: "ready" });
    return true;
  },
  (error) => {
    self.postMessage({ type: "error", message: `cannot load the report engine: ${error}` });
    return false;
  },
);

// The header is all the column pickers need; 64 KiB covers any sensible header row.
async function columns(file) {
  const head = await file.slice(0, 65536).text();
  return { type: "columns", names: columnNames(head) };
}

async function run({ real, synthetic, holdout, options }) {
  const [realText, syntheticText, holdoutText] = await Promise.all([
    real.text(),
    synthetic.text(),
    holdout ? holdout.text() : Promise.resolve(undefined),
  ]);
  const started = performance.now();
  // Seconds spent in each stage, from one progress call to the next, for the timing line.
  const stages = [];
  let last = { stage: "starting", at: started };
  const progress = (stage, fraction) => {
    const at = performance.now();
    stages.push({ stage: last.stage, seconds: (at - last.at) / 1000 });
    last = { stage, at };
    self.postMessage({ type: "progress", stage, fraction });
  };
  const output = report(realText, syntheticText, holdoutText, options, progress);
  const finished = performance.now();
  stages.push({ stage: last.stage, seconds: (finished - last.at) / 1000 });
  const seconds = (finished - started) / 1000;
  const result = { type: "done", json: output.json, html: output.html, seconds, stages };
  output.free();
  return result;
}

// The privacy calculator: the same JSON object as `doppel privacy epsilon` / `noise`.
function privacy({ mode, samplingRate, noiseMultiplier, epsilon, steps, delta, accountant }) {
  const json =
    mode === "epsilon"
      ? privacyEpsilon(samplingRate, noiseMultiplier, steps, delta, accountant)
      : privacyNoise(epsilon, delta, samplingRate, steps, accountant);
  return { type: "privacy", mode, json };
}

const handlers = { columns: (m) => columns(m.file), run, privacy };

self.onmessage = async (event) => {
  const message = event.data;
  try {
    if (!(await ready)) throw new Error("the report engine did not load");
    const reply = await handlers[message.type](message);
    self.postMessage({ ...reply, request: message.type });
  } catch (error) {
    // A trap (RuntimeError) means a panic or an abort such as running out of memory: the
    // instance's state is undefined, so the page replaces this worker.
    const fatal = error instanceof WebAssembly.RuntimeError;
    const text = fatal && panicMessage ? panicMessage : error instanceof Error ? error.message : String(error);
    self.postMessage({ type: "error", request: message.type, fatal, message: text });
  }
};
