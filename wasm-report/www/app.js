// The page: picks files, hands them to the worker (worker.js), shows progress, the report and
// any error. Files are passed to the worker as File objects and read there: nothing is sent
// over the network.

const $ = (id) => document.getElementById(id);
const form = $("form");
const runButton = $("run");
let worker = null;
let engineReady = false;
let lastReport = null;

// States: idle, running, done, error; tests and styles key on data-state.
function setState(state) {
  $("status").dataset.state = state;
  runButton.disabled = !engineReady || state === "running" || !$("real").files.length || !$("synthetic").files.length;
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
  $("progress-box").hidden = true;
  setState("error");
}

function startWorker() {
  engineReady = false;
  $("engine").dataset.state = "loading";
  worker = new Worker(new URL("worker.js", import.meta.url), { type: "module" });
  worker.onmessage = (event) => handle(event.data);
  // A worker that fails to load or throws outside a request (a syntax error, no pkg/).
  worker.onerror = (event) => {
    event.preventDefault();
    $("engine").textContent = "The report engine failed to start.";
    $("engine").dataset.state = "failed";
    showError(`report engine: ${event.message || "failed to load (was the wasm built into www/pkg?)"}`);
  };
}

function handle(message) {
  switch (message.type) {
    case "ready":
      engineReady = true;
      $("engine").textContent = "";
      $("engine").dataset.state = "ready";
      setState($("status").dataset.state);
      calcState($("calc-result").dataset.state, $("calc-result").textContent);
      break;
    case "columns":
      fillColumns(message.names);
      break;
    case "progress":
      $("progress").value = message.fraction;
      $("stage").textContent = message.stage;
      break;
    case "done":
      showReport(message);
      break;
    case "privacy":
      showPrivacy(message);
      break;
    case "error":
      if (!message.request) {
        // The module itself failed to load: restarting would fail the same way.
        $("engine").textContent = "The report engine failed to start.";
        $("engine").dataset.state = "failed";
        showError(message.message);
        break;
      }
      if (message.fatal) {
        // The wasm instance trapped; a fresh worker gets a fresh instance.
        worker.terminate();
        startWorker();
      }
      if (message.request === "privacy") {
        calcState("error", message.message);
      } else if (message.request === "columns") {
        $("columns-hint").textContent = `Cannot read the real data's header: ${message.message}`;
        $("columns-hint").hidden = false;
      } else {
        showError(message.message);
      }
      break;
  }
}

function fillColumns(names) {
  const target = $("target");
  target.replaceChildren(new Option("(none)", ""));
  const body = $("column-roles").querySelector("tbody");
  body.replaceChildren();
  for (const name of names) {
    target.add(new Option(name, name));
    const row = body.insertRow();
    row.insertCell().textContent = name;
    for (const role of ["qi", "sensitive"]) {
      const box = document.createElement("input");
      box.type = "checkbox";
      box.dataset.role = role;
      box.dataset.column = name;
      box.setAttribute("aria-label", `${name}: ${role === "qi" ? "quasi-identifier" : "sensitive"}`);
      row.insertCell().append(box);
    }
  }
  $("column-roles").hidden = names.length === 0;
  $("columns-hint").hidden = names.length > 0;
}

function checked(role) {
  return [...document.querySelectorAll(`#column-roles input[data-role="${role}"]:checked`)].map((box) => box.dataset.column);
}

// The privacy guarantee in a model summary (`doppel inspect --json`), as the report's `model`
// option; null for a model trained without differential privacy.
async function modelPrivacy(file) {
  let summary;
  try {
    summary = JSON.parse(await file.text());
  } catch (error) {
    throw new Error(`the model summary ${file.name} is not JSON: ${error.message}`);
  }
  if (summary !== null && typeof summary === "object" && "summary" in summary) {
    const privacy = summary.summary?.privacy;
    return privacy ? statement(privacy) : null;
  }
  // The privacy object on its own; "inf" is an infinite epsilon (no guarantee), which JSON
  // cannot write as a number. The report checks the values.
  if (typeof summary?.epsilon === "number" || summary?.epsilon === "inf") return statement(summary);
  throw new Error(`the model summary ${file.name} is not the output of doppel inspect --json`);
}

// The fields of a privacy statement the report's `model` option reads (its ledger, `events`,
// is for recomputing epsilon, not for the report, and options take no unknown arrays).
function statement(privacy) {
  const keys = ["epsilon", "delta", "accountant", "unit", "deterministic_noise"];
  return Object.fromEntries(keys.filter((key) => key in privacy).map((key) => [key, privacy[key]]));
}

async function options() {
  // Only what the user chose, so that an untouched form means the defaults, as on the CLI.
  const chosen = {};
  const model = $("model").files[0];
  if (model) {
    const privacy = await modelPrivacy(model);
    if (privacy !== null) chosen.model = privacy;
  }
  const target = $("target").value;
  if (target) chosen.target = target;
  const qi = checked("qi");
  if (qi.length) chosen.quasi_identifiers = qi;
  const sensitive = checked("sensitive");
  if (sensitive.length) chosen.sensitive = sensitive;
  return JSON.stringify(chosen);
}

function showReport({ json, html, seconds, stages }) {
  lastReport = { json, html };
  $("report-json").textContent = json;
  $("report-frame").srcdoc = html;
  $("progress-box").hidden = true;
  $("timing").textContent = `Report built in ${seconds.toFixed(2)} s.`;
  $("timing").dataset.seconds = String(seconds);
  // Where the time went, stage by stage (stages under 5 ms are left out).
  const spent = stages.filter((s) => s.seconds >= 0.005).map((s) => `${s.stage} ${s.seconds.toFixed(2)} s`);
  $("timing").title = spent.join("\n");
  $("timing").dataset.stages = JSON.stringify(stages);
  $("timing").hidden = false;
  $("result").hidden = false;
  setState("done");
}

function download(text, type, name) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = Object.assign(document.createElement("a"), { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (runButton.disabled) return;
  // "running" before anything is awaited, so that nobody sees the previous run's state as
  // this run's outcome.
  $("error").hidden = true;
  $("result").hidden = true;
  $("timing").hidden = true;
  $("progress").value = 0;
  $("stage").textContent = "reading the files";
  $("progress-box").hidden = false;
  setState("running");
  let chosen;
  try {
    chosen = await options();
  } catch (error) {
    showError(error.message);
    return;
  }
  worker.postMessage({
    type: "run",
    real: $("real").files[0],
    synthetic: $("synthetic").files[0],
    holdout: $("holdout").files[0] ?? null,
    options: chosen,
  });
});

$("real").addEventListener("change", () => {
  const file = $("real").files[0];
  if (file) worker.postMessage({ type: "columns", file });
  setState($("status").dataset.state);
});
$("synthetic").addEventListener("change", () => setState($("status").dataset.state));
$("download-json").addEventListener("click", () => lastReport && download(lastReport.json, "application/json", "doppel-report.json"));
$("download-html").addEventListener("click", () => lastReport && download(lastReport.html, "text/html", "doppel-report.html"));

startWorker();
setState("idle");

// The privacy calculator: the worker computes, the page shows the answer and keeps its JSON.
function calcState(state, text) {
  $("calc-result").dataset.state = state;
  $("calc-result").textContent = text;
  $("calc-epsilon-button").disabled = !engineReady || state === "running";
  $("calc-noise-button").disabled = !engineReady || state === "running";
}

function askPrivacy(mode) {
  const number = (id) => Number($(id).value);
  calcState("running", "Computing…");
  worker.postMessage({
    type: "privacy",
    mode,
    samplingRate: number("calc-sampling-rate"),
    noiseMultiplier: number("calc-noise"),
    epsilon: number("calc-epsilon"),
    steps: number("calc-steps"),
    delta: number("calc-delta"),
    accountant: $("calc-accountant").value,
  });
}

function showPrivacy(message) {
  $("calc-json").textContent = message.json;
  const answer = JSON.parse(message.json);
  const epsilon = answer.epsilon === "inf" ? "no finite bound (no guarantee: raise the noise)" : answer.epsilon.toPrecision(6);
  const text =
    message.mode === "epsilon"
      ? `epsilon ${epsilon} at delta ${answer.delta} (${answer.accountant})`
      : `noise multiplier ${answer.noise_multiplier.toPrecision(6)}, spending epsilon ${epsilon} (${answer.accountant})`;
  calcState("done", text);
}

$("calc-epsilon-button").addEventListener("click", () => askPrivacy("epsilon"));
$("calc-noise-button").addEventListener("click", () => askPrivacy("noise"));
