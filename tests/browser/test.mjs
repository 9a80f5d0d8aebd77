// End-to-end test of the report page (wasm-report/www) in headless Chromium.
//
//   node test.mjs            the fixtures: report equals the native one, a bad input shows its
//                            error, the page recovers, nothing is fetched from elsewhere
//   node test.mjs --adult    also times a full UCI Adult run (32,561 real + 32,561 synthetic +
//                            6,500 holdout rows; the synthetic table is data/adult.csv with each
//                            column shuffled independently, written under $TMPDIR)
//
// The native report comes from DOPPEL_CLI (`$DOPPEL_CLI report --real R --synthetic S
// --holdout H --json OUT`) when set, otherwise from DOPPEL_REPORT_JSON (the
// wasm-report/examples/report_json binary: `report_json R S H OPTIONS_JSON`, JSON on stdout).
// Needs www/pkg built (see .ci/browser-test). CHROMIUM overrides /usr/bin/chromium.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startServer } from "./server.mjs";

const here = fileURLToPath(new URL(".", import.meta.url));
const repo = join(here, "..", "..");
const fixtures = join(here, "fixtures");
const adult = process.argv.includes("--adult");

let failures = 0;
function check(ok, what, detail = "") {
  console.log(`${ok ? "ok  " : "FAIL"} ${what}${detail ? `: ${detail}` : ""}`);
  if (!ok) failures += 1;
}

// The native report as a parsed object, and how long the native process took.
// `choice` is what was picked on the page: {target, quasiIdentifiers}; quasi-identifiers in
// header order, the order the page sends them in.
function nativeReport({ real, synthetic, holdout }, choice) {
  const started = performance.now();
  let text;
  if (process.env.DOPPEL_CLI) {
    const out = join(tmpdir(), `doppel-native-${process.pid}.json`);
    const args = ["report", "--real", real, "--synthetic", synthetic, "--holdout", holdout, "--json", out];
    if (choice.target) args.push("--target", choice.target);
    if (choice.quasiIdentifiers?.length) args.push("--quasi-identifiers", choice.quasiIdentifiers.join(","));
    execFileSync(process.env.DOPPEL_CLI, args, { stdio: ["ignore", "ignore", "inherit"] });
    text = readFileSync(out, "utf8");
  } else if (process.env.DOPPEL_REPORT_JSON) {
    const options = {};
    if (choice.target) options.target = choice.target;
    if (choice.quasiIdentifiers?.length) options.quasi_identifiers = choice.quasiIdentifiers;
    const args = [real, synthetic, holdout, JSON.stringify(options)];
    text = execFileSync(process.env.DOPPEL_REPORT_JSON, args, {
      encoding: "utf8",
      maxBuffer: 1 << 28,
      stdio: ["ignore", "pipe", "inherit"],
    });
  } else {
    throw new Error("set DOPPEL_CLI or DOPPEL_REPORT_JSON to the native program to compare with");
  }
  return { report: JSON.parse(text), seconds: (performance.now() - started) / 1000 };
}

// Compares two parsed JSON values: `structural` lists paths where they differ in anything but
// the value of a number (type, key, string, length, null), `numbers` every pair of unequal
// numbers with its relative difference.
function compare(a, b, path = "$", found = { structural: [], numbers: [] }) {
  const shape = (x) => (x === null ? "null" : Array.isArray(x) ? "array" : typeof x);
  if (shape(a) !== shape(b)) {
    found.structural.push(`${path}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
  } else if (shape(a) === "number") {
    if (!Object.is(a, b)) {
      const relative = Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b));
      found.numbers.push({ path, browser: a, native: b, relative });
    }
  } else if (shape(a) === "object" || shape(a) === "array") {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const key of keys) {
      const at = Array.isArray(a) ? `${path}[${key}]` : `${path}.${key}`;
      if (!(key in a) || !(key in b)) found.structural.push(`${at}: only in the ${key in a ? "browser" : "native"} report`);
      else compare(a[key], b[key], at, found);
    }
  } else if (a !== b) {
    found.structural.push(`${path}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
  }
  return found;
}

// Numbers must be bit-identical: the same code on the same input. (A last-bit difference in
// exp or ln, e.g. Rust's own libm on wasm32 against glibc natively, flips split decisions of
// the boosted trees and moves scores by whole percents, so the crate must compute them the
// same way on every target, e.g. with the `libm` crate.)

async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

// Opens the page and records every request and every console error or page error.
async function openPage(browser, url) {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  const log = { requests: [], errors: [] };
  context.on("request", (request) => log.requests.push(request.url()));
  page.on("console", (message) => message.type() === "error" && log.errors.push(message.text()));
  page.on("pageerror", (error) => log.errors.push(String(error)));
  await page.goto(url);
  await page.waitForSelector('#engine[data-state="ready"]', { state: "attached", timeout: 30000 });
  return { page, log };
}

// Sets the files and the column choices, runs, and waits for the outcome; returns the
// page's state.
async function run(page, files, timeout, choice = {}) {
  for (const [id, file] of Object.entries(files)) await page.setInputFiles(`#${id}`, file);
  if (choice.target || choice.quasiIdentifiers) {
    await page.waitForSelector(`#target option[value="${choice.target ?? ""}"]`, { state: "attached" });
    await page.selectOption("#target", choice.target ?? "");
    for (const column of choice.quasiIdentifiers ?? []) {
      await page.check(`#column-roles input[data-role="qi"][data-column="${column}"]`);
    }
  }
  await page.waitForSelector("#run:not([disabled])");
  await page.evaluate(() => {
    // Record the stage labels as the worker reports them.
    window.stages = [];
    new MutationObserver(() => window.stages.push(document.getElementById("stage").textContent)).observe(
      document.getElementById("stage"),
      { childList: true, characterData: true, subtree: true },
    );
  });
  await page.click("#run");
  await page.waitForSelector('#status[data-state="done"], #status[data-state="error"]', { state: "attached", timeout });
  return page.$eval("#status", (status) => status.dataset.state);
}

async function checkReport(page, files, choice, label) {
  const json = await page.$eval("#report-json", (script) => script.textContent);
  const seconds = Number(await page.$eval("#timing", (timing) => timing.dataset.seconds));
  const native = nativeReport(files, choice);
  const { structural, numbers } = compare(JSON.parse(json), native.report);
  const worst = numbers.reduce((w, d) => (d.relative > w.relative ? d : w), { relative: 0 });
  check(structural.length === 0, `${label}: the browser report has the native one's fields, texts and sizes`, structural.slice(0, 3).join("; "));
  check(
    numbers.length === 0,
    `${label}: the browser report's numbers equal the native ones, bit for bit`,
    numbers.length === 0
      ? ""
      : `${numbers.length} differ, the most at ${worst.path}: ${worst.browser} vs ${worst.native}` +
        ` (relative ${worst.relative.toExponential(1)})`,
  );
  return { seconds, nativeSeconds: native.seconds, json };
}

async function fixtureTests(browser, url) {
  const { page, log } = await openPage(browser, url);
  const loaded = log.requests.length;
  const files = {
    real: join(fixtures, "real.csv"),
    synthetic: join(fixtures, "synthetic.csv"),
    holdout: join(fixtures, "holdout.csv"),
  };
  await page.setInputFiles("#real", files.real);
  await page.waitForSelector("#column-roles tbody tr >> nth=14");
  const options = await page.$$eval("#target option", (all) => all.map((o) => o.value));
  check(options.length === 16 && options.includes("income-per-year"), "the column pickers list the real header", `${options.length - 1} columns`);

  // A target and quasi-identifiers, so that utility and attribute inference run too.
  const choice = { target: "income-per-year", quasiIdentifiers: ["age", "race", "sex", "native-country"] };
  const state = await run(page, files, 60000, choice);
  const error = await page.$eval("#error", (box) => (box.hidden ? "" : box.textContent));
  check(state === "done", "the fixture report completes", error);
  if (state === "done") {
    const { seconds, json } = await checkReport(page, files, choice, "fixtures");
    console.log(`     fixture report: ${seconds.toFixed(3)} s in the browser`);
    const stages = await page.evaluate(() => window.stages);
    check(stages.length >= 2, "progress stages are shown", stages.join(" | "));
    const frameText = await page.frameLocator("#report-frame").locator("body").innerText();
    check(frameText.trim().length > 0, "the report frame shows the report", `${frameText.length} characters`);
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download-json")]);
    const saved = readFileSync(await download.path(), "utf8");
    check(saved === json, "download JSON saves the report", download.suggestedFilename());
  }

  const badState = await run(page, { synthetic: join(fixtures, "synthetic-missing-column.csv") }, 30000);
  const badText = await page.$eval("#error", (box) => (box.hidden ? "" : box.textContent));
  const visible = await page.isVisible("#error");
  check(
    badState === "error" && visible && /column 'education' is in the real table but not in the synthetic one/.test(badText),
    "a synthetic table without a column shows the error",
    badText,
  );

  // A word in a numeric column does not stop the report: it is an invalid cell, named.
  const nanState = await run(page, { synthetic: join(fixtures, "synthetic-not-a-number.csv") }, 30000);
  const nanReport = nanState === "done" ? JSON.parse(await page.$eval("#report-json", (s) => s.textContent)) : null;
  const age = nanReport?.validity?.columns?.find((c) => c.name === "age");
  const nanFrame = nanState === "done" ? await page.frameLocator("#report-frame").locator("#validity").innerText() : "";
  check(
    age?.out_of_domain === 1 && age?.first_invalid?.row === 3 && age?.first_invalid?.value === "abc" &&
      nanReport.warnings.some((w) => w.includes("column 'age'") && w.includes("'abc' (not a number)")) &&
      nanFrame.includes("abc"),
    "a text cell in a numeric column is counted as invalid and named on the page",
    `${nanState}: ${JSON.stringify(age?.first_invalid ?? null)}`,
  );

  // Each input error shows a message naming the problem (the error box, not a hang or a panic).
  const errorCases = [
    ["synthetic-empty.csv", /the synthetic CSV: the file is empty: expected a header row/, "an empty synthetic file"],
    ["synthetic-one-row.csv", /the synthetic table has 1 row\(s\); the report needs at least 2/, "a one-row synthetic table"],
  ];
  for (const [file, pattern, what] of errorCases) {
    const state = await run(page, { synthetic: join(fixtures, file) }, 30000);
    const text = await page.$eval("#error", (box) => (box.hidden ? "" : box.textContent));
    check(state === "error" && pattern.test(text), `${what} shows the error`, text);
  }

  // A column missing in every real row is left out, with a warning in the report.
  await page.setInputFiles("#holdout", []);
  const blank = { real: join(fixtures, "real-blank-column.csv"), synthetic: join(fixtures, "synthetic-blank-column.csv") };
  const blankState = await run(page, blank, 60000);
  const warnings = blankState === "done" ? JSON.parse(await page.$eval("#report-json", (s) => s.textContent)).warnings : [];
  const frame = blankState === "done" ? await page.frameLocator("#report-frame").locator("body").innerText() : "";
  check(
    warnings.some((w) => w.includes("column 'note'") && w.includes("every real value is missing")) &&
      frame.includes("every real value is missing"),
    "a column with every value missing is left out with a warning on the page",
    `${blankState}: ${warnings.join(" | ")}`,
  );
  await page.setInputFiles("#real", files.real);
  await page.setInputFiles("#holdout", files.holdout);

  // A model summary (doppel inspect --json) puts the model's own guarantee in the report.
  await page.setInputFiles("#model", join(fixtures, "model-summary.json"));
  const modelState = await run(page, { synthetic: files.synthetic }, 60000);
  const model = modelState === "done" ? JSON.parse(await page.$eval("#report-json", (s) => s.textContent)).model : null;
  const modelText = modelState === "done" ? await page.frameLocator("#report-frame").locator("body").innerText() : "";
  check(
    model?.epsilon === 2.5 && model?.accountant === "prv" && modelText.includes("differentially private"),
    "a model summary shows the model's privacy guarantee",
    JSON.stringify(model),
  );
  await page.setInputFiles("#model", []);

  const again = await run(page, { synthetic: files.synthetic }, 60000);
  check(again === "done" && !(await page.isVisible("#error")), "the page recovers after an error");

  await calculatorTests(page);

  const after = log.requests.slice(loaded).filter((u) => !u.startsWith("blob:") && !u.startsWith("data:"));
  check(after.length === 0, "no requests after the page loaded", after.join(" "));
  const foreign = log.requests.filter((u) => !u.startsWith(url) && !u.startsWith("blob:") && !u.startsWith("data:"));
  check(foreign.length === 0, "every request goes to 127.0.0.1", foreign.join(" ") || `${log.requests.length} requests`);
  check(log.errors.length === 0, "no console or page errors", log.errors.join(" | "));
  await page.context().close();
}

// The privacy calculator against `doppel privacy` on the same inputs: the same JSON object,
// the same numbers to 1e-6 relative, far below the 6 digits the page shows and the PRV
// accountant's own error bound (0.01 on each side). Not bit for bit: natively the accountants'
// ln/exp come from the platform's math library and rustfft runs its AVX/SSE kernels, whose
// sums run in another order than the scalar ones on wasm32 (seen: 6.5e-8 on a 12,000-step
// PRV epsilon; RDP agrees to 1e-14).
async function calculatorTests(page) {
  if (!process.env.DOPPEL_CLI) {
    console.log("skip the privacy calculator: it is compared with `doppel privacy` (set DOPPEL_CLI)");
    return;
  }
  const cases = [
    { mode: "epsilon", samplingRate: 0.01, noise: 1, steps: 1000, delta: 1e-5, accountant: "prv" },
    { mode: "epsilon", samplingRate: 0.01, noise: 1, steps: 1000, delta: 1e-5, accountant: "rdp" },
    { mode: "epsilon", samplingRate: 0.004, noise: 0.8, steps: 12000, delta: 1e-6, accountant: "prv" },
    { mode: "epsilon", samplingRate: 1, noise: 1e-200, steps: 1, delta: 1e-5, accountant: "rdp" },
    { mode: "noise", samplingRate: 0.01, epsilon: 1, steps: 1000, delta: 1e-5, accountant: "prv" },
    { mode: "noise", samplingRate: 0.02, epsilon: 3, steps: 5000, delta: 1e-5, accountant: "rdp" },
  ];
  for (const c of cases) {
    await page.fill("#calc-sampling-rate", String(c.samplingRate));
    await page.fill("#calc-steps", String(c.steps));
    await page.fill("#calc-delta", String(c.delta));
    if (c.noise !== undefined) await page.fill("#calc-noise", String(c.noise));
    if (c.epsilon !== undefined) await page.fill("#calc-epsilon", String(c.epsilon));
    await page.selectOption("#calc-accountant", c.accountant);
    await page.click(c.mode === "epsilon" ? "#calc-epsilon-button" : "#calc-noise-button");
    await page.waitForSelector('#calc-result[data-state="done"], #calc-result[data-state="error"]', { state: "attached", timeout: 120000 });
    const state = await page.$eval("#calc-result", (r) => r.dataset.state);
    const shown = await page.$eval("#calc-result", (r) => r.textContent);
    const browser = state === "done" ? JSON.parse(await page.$eval("#calc-json", (s) => s.textContent)) : null;
    const args =
      c.mode === "epsilon"
        ? ["privacy", "epsilon", "--sampling-rate", c.samplingRate, "--noise-multiplier", c.noise, "--steps", c.steps, "--delta", c.delta, "--accountant", c.accountant]
        : ["privacy", "noise", "--epsilon", c.epsilon, "--sampling-rate", c.samplingRate, "--steps", c.steps, "--delta", c.delta, "--accountant", c.accountant];
    const native = JSON.parse(execFileSync(process.env.DOPPEL_CLI, args.map(String), { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }));
    const { structural, numbers } = browser ? compare(browser, native) : { structural: ["no answer"], numbers: [] };
    const worst = numbers.reduce((w, d) => (d.relative > w.relative ? d : w), { relative: 0 });
    const label = `${c.mode} q=${c.samplingRate} T=${c.steps} δ=${c.delta} ${c.accountant}`;
    check(
      state === "done" && structural.length === 0 && worst.relative <= 1e-6,
      `the privacy calculator equals doppel privacy (${label})`,
      `${shown}; native ${JSON.stringify(native)}${structural.length ? `; differs at ${structural.join(", ")}` : ""}` +
        (numbers.length ? `; largest relative difference ${worst.relative.toExponential(1)} at ${worst.path}` : ""),
    );
  }
  // An argument out of range is an error naming it, as `doppel privacy` says.
  await page.fill("#calc-sampling-rate", "2");
  await page.click("#calc-epsilon-button");
  await page.waitForSelector('#calc-result[data-state="done"], #calc-result[data-state="error"]', { state: "attached" });
  const text = await page.$eval("#calc-result", (r) => `${r.dataset.state}: ${r.textContent}`);
  check(/^error: .*sampling_rate must be in \(0, 1\], got 2/.test(text), "the privacy calculator names a bad argument", text);
  await page.fill("#calc-sampling-rate", "0.01");
}

// Adult-size inputs under $TMPDIR: the synthetic table shuffles each column independently
// (a seeded xorshift, so every run times the same input); the holdout is the last 6,500
// rows of the real data (an overlap that changes the numbers but not the work).
function adultFiles() {
  const dir = join(tmpdir(), "doppel-browser");
  mkdirSync(dir, { recursive: true });
  const real = join(repo, "data", "adult.csv");
  const lines = readFileSync(real, "utf8").replace(/\r/g, "").trimEnd().split("\n");
  const [header, ...rows] = lines;
  const cells = rows.map((line) => line.split(",")); // Adult has no quoted fields.
  let state = 0x9e3779b97f4a7c15n;
  const next = (n) => {
    state ^= (state << 13n) & 0xffffffffffffffffn;
    state ^= state >> 7n;
    state ^= (state << 17n) & 0xffffffffffffffffn;
    return Number(state % BigInt(n));
  };
  for (let c = 0; c < cells[0].length; c += 1) {
    const column = cells.map((row) => row[c]);
    for (let i = column.length - 1; i > 0; i -= 1) {
      const j = next(i + 1);
      [column[i], column[j]] = [column[j], column[i]];
    }
    column.forEach((value, r) => (cells[r][c] = value));
  }
  const synthetic = join(dir, "adult-synthetic.csv");
  writeFileSync(synthetic, [header, ...cells.map((row) => row.join(","))].join("\n") + "\n");
  const holdout = join(dir, "adult-holdout.csv");
  writeFileSync(holdout, [header, ...rows.slice(-6500)].join("\n") + "\n");
  return { real, synthetic, holdout };
}

async function adultTiming(browser, url) {
  const files = adultFiles();
  const { page, log } = await openPage(browser, url);
  const choice = { target: "income-per-year", quasiIdentifiers: ["age", "race", "sex", "native-country"] };
  const state = await run(page, files, 300000, choice);
  const error = await page.$eval("#error", (box) => (box.hidden ? "" : box.textContent));
  check(state === "done", "the Adult report completes", error);
  if (state === "done") {
    const { seconds, nativeSeconds } = await checkReport(page, files, choice, "Adult");
    console.log(`     Adult report: ${seconds.toFixed(2)} s in the browser (wasm, in a worker), ` +
      `${nativeSeconds.toFixed(2)} s native (whole process, including reading the CSVs)`);
    const stages = JSON.parse(await page.$eval("#timing", (timing) => timing.dataset.stages));
    console.log(`     stages in the browser: ${stages.map((s) => `${s.stage} ${s.seconds.toFixed(2)}`).join(", ")}`);
    check(seconds <= 20, "the Adult report takes at most 20 s in the browser", `${seconds.toFixed(2)} s`);
  }
  check(log.errors.length === 0, "no console or page errors (Adult)", log.errors.join(" | "));
  await page.context().close();
}

const server = await startServer(join(repo, "wasm-report", "www"));
const browser = await launch();
try {
  await fixtureTests(browser, server.url);
  if (adult) await adultTiming(browser, server.url);
} catch (error) {
  check(false, "the browser test ran to the end", error.stack ?? String(error));
} finally {
  await browser.close();
  await server.close();
}
console.log(failures === 0 ? "browser test: all checks passed" : `browser test: ${failures} check(s) failed`);
process.exit(failures === 0 ? 0 : 1);
