// Loads /dashboard in headless Debian chromium, enters the report key and
// checks the seeded numbers (EXPECTED, from run.py) in tiles, rates and
// their definitions, charts and axes, the interactions table (the report's
// time zone, paging, filters, search), the time-zone picker (starting at
// reporting.timeZone), downloads in every format, the channel fields (shown
// only when the backend returns them) and the layout at 1600 and 800 px.
// Every wait is bounded.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";

const url = process.env.AUTHFLOW_URL;
const key = process.env.AUTHFLOW_REPORT_KEY;
const expected = JSON.parse(process.env.EXPECTED);
const artifacts = process.env.ARTIFACTS;
const ZONE = "Asia/Kolkata"; // UTC+05:30 all year: a half-hour offset no UTC rendering can fake
const OFFSET_MS = 330 * 60 * 1000;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_BIN || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"],
  timeout: 30000,
});

const two = (n) => String(n).padStart(2, "0");
function kolkata(ms) {
  const d = new Date(ms + OFFSET_MS);
  return `${d.getUTCFullYear()}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())} ` +
    `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`;
}

/** The column headed `name` of every table row (the channel column comes
 * and goes with the backend, so columns are found by their heading). */
const column = (page, name) => page.$$eval("#interactions tr", (trs, n) => {
  const heads = [...document.querySelectorAll("#interactions")[0].closest("table")
    .querySelectorAll("thead th")].filter((th) => !th.hidden).map((th) => th.textContent);
  const k = heads.indexOf(n);
  if (k < 0) throw new Error(`no column ${n} in ${heads}`);
  return trs.map((tr) => tr.children[k].textContent);
}, name);

/**
 * Wait until page-side `fn(arg)` is truthy. The page is served with a
 * Content-Security-Policy without 'unsafe-eval', which Playwright's own
 * waitForFunction polling needs; page.evaluate is not subject to it, so
 * poll with that and keep the policy enforced for the page.
 */
async function waitInPage(page, fn, arg, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await page.evaluate(fn, arg))) {
    if (Date.now() > deadline) throw new Error("waitInPage: timed out: " + fn);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Run `action` and wait until the table has been redrawn after it. */
async function tableAfter(page, action) {
  const before = Number(await page.getAttribute("body", "data-table-loads"));
  await action();
  await waitInPage(page, (n) => Number(document.body.getAttribute("data-table-loads")) > n, before);
}

async function summaryFromServer(params = "") {
  const r = await fetch(`${url}/v1/reports/summary?${params}`, { headers: { Authorization: `Bearer ${key}` } });
  assert.equal(r.status, 200);
  return r.json();
}

async function checkTotals(page) {
  assert.equal(await page.textContent("#kpi-started"), String(expected.started));
  assert.equal(await page.textContent("#kpi-completed"), String(expected.completed));
  assert.equal(await page.textContent("#rate-containmentRate"), expected.containment);
  // Every rate names its definition and its denominator: ANI identification
  // is over started, the others over completed.
  const dens = await page.$$eval("#rates .rate", (rs) =>
    Object.fromEntries(rs.map((r) => [r.getAttribute("data-rate"), r.getAttribute("data-denominator")])));
  assert.equal(dens.aniIdentificationRate, "started");
  for (const k of ["identificationRate", "verificationRate", "containmentRate", "transferRate", "optOutRate"]) {
    assert.equal(dens[k], "completed", k);
  }
  assert.match(await page.textContent("#def-aniIdentificationRate"),
    new RegExp(`\\(${expected.aniIdentified} of ${expected.started} started\\)`));
  assert.match(await page.textContent("#def-identificationRate"),
    new RegExp(`\\(${expected.identified} of ${expected.completed} completed\\)`));
  assert.match(await page.textContent("#def-transferRate"),
    new RegExp(`\\(${expected.transferred} of ${expected.completed} completed\\)`));
  const fill = await page.$eval("#rates .rate[data-rate='containmentRate'] .fill", (f) => f.getBoundingClientRect().width);
  const bar = await page.$eval("#rates .rate[data-rate='containmentRate'] .bar", (f) => f.getBoundingClientRect().width);
  assert.ok(fill > 0.9 * bar && fill <= bar, `containment bar ${fill} of ${bar}`);
}

async function checkChart(page) {
  const bars = await page.$$eval("#outcomes rect.outcome-bar", (rs) =>
    rs.map((r) => [r.getAttribute("data-outcome"), Number(r.getAttribute("data-count"))]));
  const sums = {};
  for (const [o, n] of bars) sums[o] = (sums[o] || 0) + n;
  assert.deepEqual(sums, expected.outcomes);
  // Readable axes: y ticks from 0 up to at least the tallest bar, x ticks in
  // the viewer's zone that do not overlap.
  const yt = (await page.$$eval("#outcomes .y-tick", (ts) => ts.map((t) => Number(t.textContent))));
  assert.ok(yt.length >= 2 && yt[0] === 0, `y ticks ${yt}`);
  assert.ok(Math.max(...yt) >= Math.max(...Object.values(expected.outcomes)) / 1, `y ticks ${yt}`);
  const xt = await page.$$eval("#outcomes .x-tick", (ts) => ts.map((t) => {
    const b = t.getBBox();
    return { text: t.textContent, left: b.x, right: b.x + b.width };
  }));
  assert.ok(xt.length >= 3, `x ticks ${JSON.stringify(xt)}`);
  for (let i = 1; i < xt.length; i++) assert.ok(xt[i - 1].right < xt[i].left, `x ticks overlap: ${JSON.stringify(xt)}`);
  // Hour buckets are the report zone's hours: hh:00 in Kolkata (hh:30 in UTC).
  for (const t of xt) assert.match(t.text, /^\d\d:00$/, t.text);
  assert.match(await page.textContent("#outcomes"), /Asia\/(Kolkata|Calcutta), UTC\+05:30/);
}

async function checkTable(page) {
  // Page one: 25 rows, newest first, the named sessions on top.
  let ids = await column(page, "conversation");
  assert.equal(ids.length, 25);
  assert.deepEqual(ids.slice(0, expected.conversationIds.length), [...expected.conversationIds].reverse());
  // Times in the report's zone (the configured Asia/Kolkata).
  const cell = await page.$eval("#interactions tr td", (td) => [td.textContent, Number(td.getAttribute("data-time-ms"))]);
  assert.equal(cell[0], kolkata(cell[1]));
  assert.match(await page.textContent("#timehead"), /Asia\/(Kolkata|Calcutta), UTC\+05:30/);
  // Paging past the latest 25, and back.
  assert.equal(await page.isDisabled("#newer"), true);
  await tableAfter(page, () => page.click("#older"));
  ids = await column(page, "conversation");
  assert.equal(ids.length, expected.completed - 25);
  assert.deepEqual(ids, expected.bulkIds.slice(0, expected.completed - 25).reverse());
  assert.equal(await page.isDisabled("#older"), true);
  await tableAfter(page, () => page.click("#newer"));
  assert.equal((await column(page, "conversation")).length, 25);

  // Filters: outcome, auth status.
  await tableAfter(page, () => page.selectOption("#f-outcome", "verified"));
  assert.deepEqual(await column(page, "outcome"), ["verified", "verified", "verified"]);
  await tableAfter(page, () => page.selectOption("#f-outcome", ""));
  await tableAfter(page, () => page.selectOption("#f-auth", "identified_verified"));
  assert.deepEqual(await column(page, "auth status"), ["identified_verified", "identified_verified", "identified_verified"]);
  await tableAfter(page, () => page.selectOption("#f-auth", "not_identified"));
  const st = await column(page, "auth status");
  assert.equal(st.length, 25);
  assert.ok(st.every((s) => s === "not_identified"), st.join());
  await tableAfter(page, () => page.selectOption("#f-auth", ""));

  // Search by conversation ID: the oldest one, on no page the table showed.
  const wanted = expected.bulkIds[0];
  await page.fill("#f-conv", wanted);
  await tableAfter(page, () => page.click("#search"));
  assert.deepEqual(await column(page, "conversation"), [wanted]);
  await page.fill("#f-conv", "");
  await tableAfter(page, () => page.click("#search"));
}

const fileName = (report, zone, ext) =>
  new RegExp(`^authflow-${report}_\\d{4}-\\d\\d-\\d\\d_\\d{4}-\\d\\d-\\d\\d_${zone}\\.${ext}$`);

async function checkExports(page) {
  await page.selectOption("#fmt", "csv");
  const [dl] = await Promise.all([page.waitForEvent("download"), page.click("#export")]);
  assert.match(dl.suggestedFilename(), fileName("interactions", "Asia-Kolkata", "csv"));
  const csv = readFileSync(await dl.path(), "utf8").trim().split("\r\n");
  assert.match(csv[0], /^id,time,conversationId,/);
  assert.equal(csv.length - 1, expected.completed, "every completed interaction in the export");
  for (const id of [...expected.conversationIds, ...expected.bulkIds]) {
    assert.ok(csv.some((l) => l.includes(`,${id},`)), id);
  }
  assert.match(csv[1].split(",")[1], /\+05:30$/, "times in the report's zone");
  const [ds] = await Promise.all([page.waitForEvent("download"), page.click("#exportsummary")]);
  assert.match(ds.suggestedFilename(), fileName("summary", "Asia-Kolkata", "csv"));
  const sum = readFileSync(await ds.path(), "utf8").trim().split("\r\n").map((l) => l.split(","));
  const col = (n) => sum[0].indexOf(n);
  assert.equal(sum[0][0], "scope");
  const total = sum.filter((r) => r[0] === "total" && (col("channel") < 0 || r[col("channel")] === "all"));
  assert.equal(total.length, 1, JSON.stringify(sum));
  assert.deepEqual([total[0][col("started")], total[0][col("startedAniIdentified")], total[0][col("completed")]],
    [String(expected.started), String(expected.aniIdentified), String(expected.completed)]);
  // Every other format, for both reports: the file the browser saves.
  for (const fmt of ["xlsx", "pdf", "json"]) {
    await page.selectOption("#fmt", fmt);
    for (const [button, report] of [["#export", "interactions"], ["#exportsummary", "summary"]]) {
      const [d] = await Promise.all([page.waitForEvent("download"), page.click(button)]);
      assert.match(d.suggestedFilename(), fileName(report, "Asia-Kolkata", fmt));
      const bytes = readFileSync(await d.path());
      if (fmt === "xlsx") assert.equal(bytes.subarray(0, 2).toString("latin1"), "PK");
      if (fmt === "pdf") assert.equal(bytes.subarray(0, 5).toString("latin1"), "%PDF-");
      if (fmt === "json") {
        const j = JSON.parse(bytes.toString("utf8"));
        if (report === "summary") assert.equal(j.total.completed, expected.completed);
        else assert.equal(j.count, expected.completed);
        assert.equal(j.timeZone, "Asia/Kolkata");
      }
    }
  }
  await page.selectOption("#fmt", "xlsx");
}

/** The time-zone picker starts at reporting.timeZone; another zone redraws
 * the table, chart and downloads in it. */
async function checkZonePicker(page) {
  assert.equal(await page.inputValue("#tz"), "Asia/Kolkata");
  assert.ok((await page.textContent("#tz option:checked")).includes("configured"));
  await tableAfter(page, () => page.selectOption("#tz", "America/New_York"));
  await waitInPage(page, () => /America\/New_York/.test(document.getElementById("timehead").textContent));
  assert.match(await page.textContent("#timehead"), /America\/New_York, UTC-0[45]:00/);
  const cell = await page.$eval("#interactions tr td", (td) => [td.textContent, Number(td.getAttribute("data-time-ms"))]);
  const ny = new Intl.DateTimeFormat("sv-SE", { timeZone: "America/New_York", year: "numeric", month: "2-digit",
    day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" }).format(new Date(cell[1]));
  assert.equal(cell[0], ny);
  await page.selectOption("#fmt", "pdf");
  const [d] = await Promise.all([page.waitForEvent("download"), page.click("#exportsummary")]);
  assert.match(d.suggestedFilename(), fileName("summary", "America-New_York", "pdf"));
  await tableAfter(page, () => page.selectOption("#tz", "Asia/Kolkata"));
}

/** Channel filter and reuse share: shown exactly when the backend answers them. */
async function checkChannels(page) {
  const real = await summaryFromServer();
  const has = Array.isArray(real.byChannel);
  assert.equal(await page.isHidden("#channelbox"), !has);
  assert.equal(await page.isHidden("#channels"), !has);
  assert.equal(await page.isHidden("#tile-reuse"), !("contextReused" in real.total));
  assert.equal(await page.locator("#rate-contextReuseRate").count(), "contextReuseRate" in real.total ? 1 : 0);
}

async function checkChannelsWhenPresent(context) {
  // The backend's contract (REPORT-CONTRACT): byChannel, channel on items,
  // contextReused/contextReuseRate on every counts object. Added to real
  // answers here so the page is tested with and without them.
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  await page.addInitScript((k) => sessionStorage.setItem("authflowReportKey", k), key);
  const seen = [];
  const reuse = (c) => ({ ...c, contextReused: 2, contextReuseRate: c.completed ? 2 / c.completed : null });
  await page.route((u) => u.pathname === "/v1/reports/summary", async (route) => {
    seen.push(new URL(route.request().url()).searchParams.get("channel"));
    const res = await route.fetch();
    const s = await res.json();
    s.total = reuse(s.total);
    s.buckets = s.buckets.map(reuse);
    s.channel = "all";
    s.byChannel = [{ channel: "voice", ...reuse(s.total) }, { channel: "web", ...reuse(s.total) }];
    await route.fulfill({ response: res, json: s });
  });
  await page.route((u) => u.pathname === "/v1/reports/interactions", async (route) => {
    if (new URL(route.request().url()).searchParams.get("format") === "csv") return route.continue();
    const res = await route.fetch();
    const b = await res.json();
    b.items = b.items.map((it) => ({ ...it, channel: "voice" }));
    await route.fulfill({ response: res, json: b });
  });
  await page.goto(url + "/dashboard");
  await page.locator("body[data-loaded='1']").waitFor();
  await page.uncheck("#auto");
  assert.equal(await page.isVisible("#channelbox"), true);
  assert.deepEqual(await page.$$eval("#channel option", (os) => os.map((o) => o.value)), ["", "voice", "web"]);
  assert.equal(await page.textContent("#kpi-reuse"), "2");
  assert.equal(await page.textContent("#rate-contextReuseRate"),
    `${(200 / expected.completed).toFixed(1)}%`);
  assert.match(await page.textContent("#def-contextReuseRate"), new RegExp(`\\(2 of ${expected.completed} completed\\)`));
  assert.equal(await page.getAttribute("#rates .rate[data-rate='contextReuseRate']", "data-denominator"), "completed");
  assert.deepEqual(await page.$$eval("#channelrows tr", (trs) => trs.map((t) => t.getAttribute("data-channel"))),
    ["voice", "web"]);
  assert.equal(await page.isVisible("th.chancol"), true);
  assert.equal((await column(page, "channel"))[0], "voice");
  await tableAfter(page, () => page.selectOption("#channel", "web"));
  await waitInPage(page, () => Number(document.body.getAttribute("data-loads")) >= 2);
  assert.equal(seen[seen.length - 1], "web", `summary asked with channel ${seen}`);
  await page.close();
}

/** The schedules panel: the configured schedule, "Send now" (a report key
 * may), and its delivery listed once the server took the mail. */
async function checkSchedules(page) {
  await page.locator("#schedules").waitFor({ state: "visible" });
  const row = "#schedulerows tr[data-schedule='daily-summary']";
  const cells = await page.$$eval(`${row} td`, (tds) => tds.map((t) => t.textContent));
  assert.equal(cells[0], "daily-summary");
  assert.equal(cells[1], "summary (pdf)");
  assert.equal(cells[2], "day at 07:00");
  assert.equal(cells[3], "Asia/Kolkata", "a schedule without timeZone uses reporting.timeZone");
  assert.equal(cells[4], "supervisors@example.com");
  assert.match(cells[5], /^\d{4}-\d\d-\d\d \(\d{4}-\d\d-\d\d 07:00\)$/);
  assert.equal(cells[6], "none yet");
  assert.equal(await page.isVisible("#nodeliveries"), true);
  await page.click(`${row} button.runnow`);
  await page.locator("#runstatus").filter({ hasText: "queued" }).waitFor();
  await page.locator("#deliveryrows tr[data-result='sent']").waitFor({ timeout: 30000 });
  const d = await page.$$eval("#deliveryrows tr", (trs) => trs.map((tr) =>
    Array.from(tr.children).map((td) => td.textContent)));
  assert.equal(d.length, 1);
  // schedule, trigger, result, attempts, SMTP reply, recipients, file
  assert.deepEqual([d[0][1], d[0][3], d[0][4], d[0][5], d[0][6], d[0][8]],
    ["daily-summary", "manual", "sent", "1", "250", "supervisors@example.com"]);
  assert.match(d[0][9], /^authflow-summary_.*_Asia-Kolkata\.pdf$/);
  await waitInPage(page, () => /^sent /.test(document.querySelector(
    "#schedulerows tr[data-schedule='daily-summary'] td:nth-child(7)").textContent));
  assert.equal(await page.isVisible("#nodeliveries"), false);
}

async function checkLayout(page) {
  // Wide: rates and the outcome chart side by side, the page used across.
  await page.setViewportSize({ width: 1600, height: 900 });
  const r = await page.locator("#rates").locator("xpath=..").boundingBox();
  const o = await page.locator("#outcomes").locator("xpath=..").boundingBox();
  assert.ok(Math.abs(r.y - o.y) < 2 && o.x > r.x + r.width - 1, `side by side: ${JSON.stringify([r, o])}`);
  assert.ok(o.x + o.width - r.x > 0.9 * 1600, "sections use the width");
  await page.screenshot({ path: path.join(artifacts, "dashboard-1600.png"), fullPage: true });
  // Narrow: nothing wider than the window; the table scrolls inside its box.
  await page.setViewportSize({ width: 800, height: 900 });
  await page.waitForTimeout(100); // let layout and the chart's resize handler run
  const sw = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(sw <= 800, `page is ${sw} px wide at 800`);
  const rights = await page.$$eval("section", (ss) => ss.filter((s) => !s.hidden).map((s) => s.getBoundingClientRect().right));
  assert.ok(rights.every((x) => x <= 800), `sections end at ${rights}`);
  const xt = await page.$$eval("#outcomes .x-tick", (ts) => ts.map((t) => { const b = t.getBBox(); return [b.x, b.x + b.width]; }));
  for (let i = 1; i < xt.length; i++) assert.ok(xt[i - 1][1] < xt[i][0], "x ticks overlap at 800 px");
  await page.screenshot({ path: path.join(artifacts, "dashboard-800.png"), fullPage: true });
}

let failed = false;
try {
  mkdirSync(artifacts, { recursive: true });
  const context = await browser.newContext({
    viewport: { width: 1280, height: 900 }, timezoneId: ZONE, locale: "en-US", acceptDownloads: true,
  });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  const external = [];
  page.on("request", (r) => { if (!r.url().startsWith(url) && !r.url().startsWith("blob:")) external.push(r.url()); });
  // The page works under its Content-Security-Policy: nothing it does is
  // refused (a violation is reported on the console).
  const cspViolations = [];
  page.on("console", (m) => { if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text()); });
  const nav = await page.goto(url + "/dashboard");
  assert.match(nav.headers()["content-security-policy"] || "", /script-src 'unsafe-inline'/);
  assert.equal(nav.headers()["x-frame-options"], "DENY");
  assert.equal(nav.headers()["x-content-type-options"], "nosniff");

  // No key yet: the page asks for one and shows no data.
  await page.locator("#keyform").waitFor({ state: "visible" });
  await page.fill("#key", "wrong-key-0000");
  await page.click("#savekey");
  await page.locator("#keyerror").filter({ hasText: "refused" }).waitFor();

  await page.fill("#key", key);
  await page.click("#savekey");
  await page.locator("body[data-loaded='1']").waitFor();
  await page.uncheck("#auto");
  assert.equal(await page.evaluate(() => sessionStorage.getItem("authflowReportKey")), key);

  await checkTotals(page);
  await checkChart(page);
  await checkTable(page);
  await checkExports(page);
  await checkZonePicker(page);
  await checkChannels(page);
  await checkSchedules(page);
  await page.screenshot({ path: path.join(artifacts, "dashboard.png"), fullPage: true });
  await checkLayout(page);
  assert.deepEqual(external, [], "the page fetched something outside the service");
  assert.deepEqual(cspViolations, [], "the page broke its Content-Security-Policy");
  await checkChannelsWhenPresent(context);
  console.log("dashboard test: ok");
} catch (e) {
  failed = true;
  console.error("dashboard test failed:", e);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
