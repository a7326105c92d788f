// The page in a real browser: Debian's headless Chromium, driven by puppeteer-core (which
// downloads no browser). node dashboard.test.mjs URL SCREENSHOT_DIR
// The store behind URL is made by run.sh: hosts web-1..web-3 reporting every second, and
// old-1, which stopped reporting 10 minutes ago.
import puppeteer from "puppeteer-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const [base, shots, tokenBase] = process.argv.slice(2);
if (!base || !shots) {
  console.error("usage: node dashboard.test.mjs URL SCREENSHOT_DIR [TOKEN_URL]  (token in $DMON_TEST_TOKEN)");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
let failures = 0;
// Polls `condition` until it holds or `ms` pass: a loaded CI machine may be slow to start the
// requests a click causes.
const waitFor = async (condition, ms = 15000) => {
  const until = Date.now() + ms;
  while (!condition() && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  return condition();
};
const check = (ok, what) => {
  console.log(`[browser] ${ok ? "ok  " : "FAIL"} ${what}`);
  if (!ok) failures++;
};

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  // The machine's network is closed: no background connections, no updates, no sync.
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--lang=en-US"],
  env: { ...process.env, TZ: "Europe/Berlin" },
});
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 1000 });
  const problems = [];
  page.on("console", (m) => { if (m.type() === "error" || m.type() === "warn") problems.push(`console ${m.type()}: ${m.text()}`); });
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on("response", (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.url()}`); });
  const requests = [];
  page.on("request", (r) => requests.push(r.url()));

  // The overview: every host, the stale one marked.
  await page.goto(base, { waitUntil: "networkidle0" });
  await page.waitForSelector("#hosts tbody tr", { timeout: 15000 });
  const rows = await page.$$eval("#hosts tbody tr", (trs) => trs.map((tr) => ({
    host: tr.dataset.host, stale: tr.classList.contains("stale"), text: tr.innerText })));
  check(JSON.stringify(rows.map((r) => r.host)) === JSON.stringify(["old-1", "web-1", "web-2", "web-3"]),
    "the overview lists old-1, web-1, web-2, web-3: " + rows.map((r) => r.host).join(", "));
  check(rows.find((r) => r.host === "old-1")?.stale === true && rows.filter((r) => r.stale).length === 1,
    "old-1, and only old-1, is marked stale");
  check(/ %/.test(rows.find((r) => r.host === "web-1")?.text || "") && /iB\/s/.test(rows.find((r) => r.host === "web-1")?.text || ""),
    "web-1 shows CPU in % and rates in iB/s: " + (rows.find((r) => r.host === "web-1")?.text || "").replace(/\s+/g, " "));
  const zone = await page.$eval("#zone", (e) => e.textContent);
  check(zone.includes("Europe/Berlin"), "the time zone is shown: " + zone);
  // The filter and the sort: typing keeps one host, a heading click sorts by it.
  await page.type("#filter", "web-2");
  const filtered = await page.$$eval("#hosts tbody tr", (trs) => trs.map((tr) => tr.dataset.host));
  check(JSON.stringify(filtered) === '["web-2"]' && page.url().includes("q=web-2"), "the filter keeps web-2 and is in the URL: " + filtered.join(","));
  await page.$eval("#filter", (f) => { f.value = ""; f.dispatchEvent(new Event("input")); });
  // Clicked inside the page: the table is drawn again every second, and a handle found a
  // moment before the click may belong to the table before.
  await page.$eval('th[data-sort="last"]', (th) => th.click());
  await waitFor(() => page.url().includes("sort=last"));
  const byLastSeen = await page.$$eval("#hosts tbody tr", (trs) => trs.map((tr) => tr.dataset.host));
  check(byLastSeen[byLastSeen.length - 1] === "old-1", "sorted by last seen, old-1 comes last: " + byLastSeen.join(","));
  await page.$eval("#filter", (f) => f.blur());
  const bottom = await page.$eval("footer", (f) => Math.ceil(f.getBoundingClientRect().bottom) + 8);
  await page.screenshot({ path: join(shots, "overview.png"), clip: { x: 0, y: 0, width: 1400, height: bottom } });

  // A host page: every chart drawn, none blank (the canvas has coloured pixels).
  await page.goto(base + "#/host/web-1?range=1h", { waitUntil: "networkidle0" });
  await page.waitForSelector(".chart canvas", { timeout: 15000 });
  await new Promise((r) => setTimeout(r, 500));
  const charts = await page.$$eval(".chart", (boxes) => boxes.map((box) => {
    const title = box.querySelector("h2")?.textContent;
    const canvas = box.querySelector("canvas");
    if (!canvas) return { title, inked: 0, text: box.innerText };
    const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    let inked = 0;  // pixels of a series line: saturated colour, not grey axes or grid
    for (let i = 0; i < data.length; i += 4) {
      const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
      if (a > 0 && Math.max(r, g, b) - Math.min(r, g, b) > 60) inked++;
    }
    return { title, inked };
  }));
  check(charts.length >= 10, `the host page has ${charts.length} charts`);
  for (const c of charts) check(c.inked > 200, `chart '${c.title}' is drawn (${c.inked} coloured pixels)`);
  await page.screenshot({ path: join(shots, "host.png"), fullPage: true });

  // The auto-refresh (1 h range: every 4.5 s) takes new points into the same charts: the
  // canvases are not drawn anew.
  await page.$$eval(".chart canvas", (cs) => cs.forEach((c) => { c.dataset.first = "yes"; }));
  requests.length = 0;
  const refreshed = await waitFor(() => requests.filter((u) => u.includes("/api/v1/points")).length >= charts.length, 20000);
  await page.waitForNetworkIdle({ idleTime: 300, timeout: 15000 });
  const kept = await page.$$eval(".chart canvas", (cs) => cs.filter((c) => c.dataset.first === "yes").length);
  check(refreshed && kept === charts.length, `the refresh updates the ${charts.length} charts in place (${kept} kept)`);

  // The range picker changes what is asked for, and the URL.
  requests.length = 0;
  await page.$eval('button[data-range="6h"]', (b) => b.click());
  const sixHours = () => requests.filter((u) => u.includes("/api/v1/points")).map((u) => new URL(u))
    .map((u) => Number(u.searchParams.get("until")) - Number(u.searchParams.get("from")));
  await waitFor(() => sixHours().filter((s) => Math.abs(s - 6 * 3600e3) < 60e3).length >= charts.length);
  await page.waitForNetworkIdle({ idleTime: 300, timeout: 15000 });
  const spans = sixHours();
  check(page.url().includes("range=6h"), "the URL holds the range: " + page.url());
  // The newest requests are the charts of the new range (an auto-refresh of the old range may
  // have started just before the click).
  const newest = spans.slice(-charts.length);
  check(newest.length === charts.length && newest.every((s) => Math.abs(s - 6 * 3600e3) < 60e3),
    `after 6h the page asks for 6 hours (${spans.length} requests, the last ${newest.length} of 6 h)`);

  // Zoom: a drag across a chart fixes the range to what was dragged over.
  const box = await (await page.$(".chart .u-over")).boundingBox();
  await page.mouse.move(box.x + box.width * 0.4, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 5 });
  await page.mouse.up();
  await waitFor(() => page.url().includes("until="));
  await page.waitForNetworkIdle({ idleTime: 300, timeout: 15000 });
  const zoomed = new URLSearchParams(new URL(page.url()).hash.split("?")[1]);
  const zoomSpan = Number(zoomed.get("until")) - Number(zoomed.get("from"));
  check(zoomSpan > 0.1 * 6 * 3600e3 && zoomSpan < 0.3 * 6 * 3600e3, `dragging zooms to a fifth of the range (${Math.round(zoomSpan / 60e3)} min)`);

  // The explorer: a counter as a rate, one host.
  await page.goto(base + "#/explore?metric=system.network.io&host=web-2&rate=true&range=15m", { waitUntil: "networkidle0" });
  await page.waitForSelector(".chart canvas", { timeout: 15000 });
  const legend = await page.$$eval(".u-legend .u-series", (s) => s.map((x) => x.innerText.replace(/\s+/g, " ")));
  check(legend.length === 5, "the explorer draws web-2's four interfaces and directions: " + legend.slice(1).join(" | "));

  check(problems.length === 0, "no console errors, failed requests or HTTP errors" + (problems.length ? ": " + problems.join("; ") : ""));

  // Behind a token: the page asks for a login, a wrong token is refused, the right one lets in.
  if (tokenBase) {
    const login = await browser.newPage();
    await login.goto(tokenBase, { waitUntil: "networkidle0" });
    await waitFor(() => login.url().endsWith("/login"));
    check(login.url().endsWith("/login"), "without the token the page sends to the login form: " + login.url());
    await login.type('input[name="token"]', "not-the-token");
    await Promise.all([login.waitForNavigation(), login.click('button[type="submit"]')]);
    check((await login.$("#hosts")) === null && login.url().endsWith("/login"), "a wrong token stays on the form");
    await login.type('input[name="token"]', process.env.DMON_TEST_TOKEN || "");
    await Promise.all([login.waitForNavigation(), login.click('button[type="submit"]')]);
    const listed = await login.waitForSelector("#hosts tbody tr", { timeout: 15000 }).then(() => true, () => false);
    check(listed, "with the token the hosts are listed: " + login.url());
    const cookie = (await login.cookies()).find((c) => c.name === "dmon_token");
    check(cookie?.httpOnly === true && cookie?.sameSite === "Strict", "the login cookie is HttpOnly and SameSite=Strict");
    await login.close();
  }
} finally {
  await browser.close();
}
console.log(failures ? `[browser] ${failures} failed` : "[browser] all passed");
process.exit(failures ? 1 : 0);
