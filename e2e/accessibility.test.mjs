// axe-core (npm `axe-core`, the engine of Deque's checkers) on every page
// of the console, as an admin sees it with the demo data: no serious or
// critical violation. The script is injected into the page, so this
// context bypasses the console's Content-Security-Policy, which would
// (rightly) refuse an inline script. Real server, the release console,
// Debian's Chromium.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { ADMIN_PASSWORD, launchBrowser, login, startServer } from './harness.mjs';

const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

let server;
let browser;

before(async () => {
  server = await startServer({ demo: true });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** The serious and critical violations on the page as it is now. */
async function violations(page) {
  await page.waitForLoadState('networkidle').catch(() => {});
  await page.addScriptTag({ path: axePath });
  const found = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      rule: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.html.slice(0, 120)),
    }));
  });
  return found.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

const PAGES = [
  ['/', 'Overview'],
  ['/services', 'Services'],
  ['/services/checkout', 'checkout'],
  ['/flags?service=checkout&flag=new-checkout-flow&environment=prod', 'Flags'],
  ['/breakers', 'Breakers'],
  ['/fleet', 'Fleet'],
  ['/reviews', 'Changes awaiting review'],
  ['/audit', 'Audit'],
  ['/editor', 'Document editor'],
  ['/people', 'People'],
];

test('no serious or critical accessibility violation on any page', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
  const page = await context.newPage();
  await page.goto(server.url);
  await page.getByLabel('User name').waitFor();
  const report = { login: await violations(page) };
  await login(page, server.url, 'admin', ADMIN_PASSWORD);
  for (const [path, heading] of PAGES) {
    await page.goto(`${server.url}${path}`);
    await page.getByRole('heading', { name: heading, level: 1 }).waitFor();
    report[path] = await violations(page);
  }
  const failing = Object.fromEntries(Object.entries(report).filter(([, found]) => found.length > 0));
  assert.deepEqual(failing, {}, JSON.stringify(failing, null, 1));
  await context.close();
});
