// Runs axe-core (WCAG 2.1 A and AA rules) on HTML files in Debian's headless Chromium,
// prints every violation and exits 1 if there is any. Also checks what axe cannot: the
// skip link is the first Tab stop, visible, and moves the focus; the page reflows at
// 320 CSS pixels; the page fetches nothing.
//
//   node tests/a11y/axe.mjs report.html [more.html...]
//
// Chromium comes from Debian's package (/usr/bin/chromium, or $CHROMIUM); puppeteer-core
// drives it and downloads no browser. The pages are loaded from file:// with the network
// off: a self-contained page needs none.
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createRequire } from "node:module";
import puppeteer from "puppeteer-core";

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node axe.mjs FILE.html...");
  process.exit(2);
}

const profile = mkdtempSync(join(tmpdir(), "paravent-a11y-"));
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    `--user-data-dir=${profile}`,
  ],
});
let failed = 0;
try {
  for (const file of files) {
    const page = await browser.newPage();
    // A self-contained report fetches nothing: refuse every request but the page itself.
    await page.setRequestInterception(true);
    const url = "file://" + resolve(file);
    const external = [];
    page.on("request", (req) => {
      if (req.url() === url || req.url().startsWith("data:")) req.continue();
      else {
        external.push(req.url());
        req.abort();
      }
    });
    await page.goto(url, { waitUntil: "load" });
    await page.addScriptTag({ content: axeSource });
    const result = await page.evaluate(
      (tags) => window.axe.run(document, { runOnly: { type: "tag", values: tags }, resultTypes: ["violations"] }),
      TAGS,
    );
    const count = result.violations.reduce((n, v) => n + v.nodes.length, 0);
    console.log(`${file}: ${result.passes.length} rules passed, ${result.incomplete.length} need review, ${result.violations.length} violated (${count} nodes); axe-core ${result.testEngine.version}`);
    for (const v of result.violations) {
      console.log(`  [${v.impact}] ${v.id}: ${v.help} (${v.helpUrl})`);
      for (const n of v.nodes.slice(0, 10)) {
        console.log(`    ${n.target.join(" ")}: ${n.failureSummary.replace(/\n/g, " ")}`);
      }
    }
    if (external.length > 0) {
      console.log(`  not self-contained: it requested ${external.join(", ")}`);
      failed++;
    }
    if (result.violations.length > 0) failed++;

    // Keyboard: the first Tab reaches the skip link, which is then visible, and
    // following it moves the focus to the main content.
    await page.setViewport({ width: 1280, height: 800 });
    await page.keyboard.press("Tab");
    const skip = await page.evaluate(() => {
      const a = document.activeElement;
      const r = a.getBoundingClientRect();
      return { cls: a.className, visible: r.top >= 0 && r.bottom <= innerHeight && r.width > 0 };
    });
    await page.keyboard.press("Enter");
    const afterSkip = await page.evaluate(() => document.activeElement.id);
    if (skip.cls !== "skip" || !skip.visible || afterSkip !== "main") {
      console.log(`  keyboard: first Tab on ${JSON.stringify(skip)}, Enter moved the focus to #${afterSkip}`);
      failed++;
    }
    // Reflow (WCAG 1.4.10): at 320 CSS pixels wide the page does not scroll sideways
    // (wide tables scroll inside their own focusable region).
    await page.setViewport({ width: 320, height: 640 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
    if (overflow > 320) {
      console.log(`  reflow: the page is ${overflow}px wide at a 320px viewport`);
      failed++;
    }
    await page.close();
  }
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(failed > 0 ? 1 : 0);
