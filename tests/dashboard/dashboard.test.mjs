// Loads /dashboard in headless Debian chromium, enters the report key and
// checks the seeded numbers (EXPECTED, from run.py) in tiles, charts and
// the interactions table. Every wait is bounded.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";

const url = process.env.AUTHFLOW_URL;
const key = process.env.AUTHFLOW_REPORT_KEY;
const expected = JSON.parse(process.env.EXPECTED);
const artifacts = process.env.ARTIFACTS;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_BIN || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"],
  timeout: 30000,
});
let failed = false;
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(15000);
  const external = [];
  page.on("request", (r) => { if (!r.url().startsWith(url)) external.push(r.url()); });
  await page.goto(url + "/dashboard");

  // No key yet: the page asks for one and shows no data.
  await page.locator("#keyform").waitFor({ state: "visible" });
  await page.fill("#key", "wrong-key-0000");
  await page.click("#savekey");
  await page.locator("#keyerror").filter({ hasText: "refused" }).waitFor();

  await page.fill("#key", key);
  await page.click("#savekey");
  await page.locator("body[data-loaded='1']").waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem("authflowReportKey")), key);

  assert.equal(await page.textContent("#kpi-started"), String(expected.started));
  assert.equal(await page.textContent("#kpi-completed"), String(expected.completed));
  assert.equal(await page.textContent("#rate-containmentRate"), expected.containment);

  // The outcome chart's bars add up to the seeded outcomes.
  const bars = await page.$$eval("#outcomes rect.outcome-bar", (rs) =>
    rs.map((r) => [r.getAttribute("data-outcome"), Number(r.getAttribute("data-count"))]));
  const sums = {};
  for (const [o, n] of bars) sums[o] = (sums[o] || 0) + n;
  assert.deepEqual(sums, expected.outcomes);
  // A rate bar is drawn with a width in proportion.
  const width = await page.getAttribute("#rates rect[data-rate='containmentRate']", "width");
  assert.ok(Number(width) > 0);

  // The table lists the completed sessions, newest first.
  const rows = await page.$$eval("#interactions tr", (trs) =>
    trs.map((tr) => tr.children[1].textContent));
  assert.deepEqual(rows, [...expected.conversationIds].reverse());

  assert.deepEqual(external, [], "the page fetched something outside the service");
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: path.join(artifacts, "dashboard.png"), fullPage: true });
  console.log("dashboard test: ok");
} catch (e) {
  failed = true;
  console.error("dashboard test failed:", e);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
