// Prints the console's three budget figures (issue 4), measured in Debian's
// headless Chromium against the real server and the release console:
//   - initial payload: wasm + js + css that index.html loads, gzipped;
//   - cold load to interactive from localhost (empty cache);
//   - per-keystroke filtering of a 2,000-service list.
// Not a test: it asserts nothing. Run through bench/console.sh.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { ADMIN_PASSWORD, apiSession, launchBrowser, login, startServer } from '../e2e/harness.mjs';

const dist = process.env.SETPOINT_CONSOLE_DIR;
const SERVICES = 2_000;
const RUNS = 5;

function payload() {
  const index = readFileSync(path.join(dist, 'index.html'), 'utf8');
  const files = [...index.matchAll(/(?:href|src)="\/?([^"?#]+\.(?:wasm|js|css))"/g)].map((m) => m[1]);
  // trunk's loader script names the wasm file rather than linking it.
  for (const m of index.matchAll(/['"]\/?([^'"]+_bg\.wasm)['"]/g)) files.push(m[1]);
  const unique = [...new Set(files)];
  let raw = 0;
  let gz = 0;
  for (const file of unique) {
    const bytes = readFileSync(path.join(dist, file));
    const zipped = gzipSync(bytes, { level: 9 }).length;
    raw += bytes.length;
    gz += zipped;
    console.log(`  ${file}: ${bytes.length} B, ${zipped} B gzipped`);
  }
  console.log(`initial payload: ${raw} B, ${gz} B gzipped (budget 256,000 B gzipped)`);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function coldLoad(browser, url) {
  const times = [];
  for (let i = 0; i < RUNS; i += 1) {
    const context = await browser.newContext(); // no cache, no cookies
    const page = await context.newPage();
    await page.goto(url, { waitUntil: 'commit' });
    await page.getByLabel('User name').waitFor();
    // Interactive: the wasm app has mounted the form and handles input.
    await page.getByLabel('User name').fill('x');
    times.push(await page.evaluate(() => performance.now()));
    await context.close();
  }
  console.log(`cold load to interactive (login form, empty cache), ms over ${RUNS} runs: median ${median(times).toFixed(0)}, max ${Math.max(...times).toFixed(0)} (budget 1,000)`);
}

async function filtering(browser, url) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await login(page, url, 'admin', ADMIN_PASSWORD);
  await page.getByRole('link', { name: 'Services' }).click();
  await page.getByText(`${SERVICES + 6} service(s)`, { exact: false }).first().waitFor({ timeout: 60_000 });
  // Each keystroke: from the input event to the list updated and painted.
  const times = await page.evaluate(async () => {
    const input = document.getElementById('service-search');
    const count = () => document.body.innerText.match(/(\d+) service\(s\)/)?.[1];
    const out = [];
    for (const text of ['b', 'bu', 'bul', 'bulk', 'bulk-1', 'bulk-19', 'bulk-199', 'bulk-19', 'bulk-1', 'bulk', 'team-7', '']) {
      const start = performance.now();
      input.value = text;
      input.dispatchEvent(new Event('input', { bubbles: true }));
      // The console's reactive updates run as microtasks: after this
      // macrotask they are done; then wait for the frame to be painted.
      await new Promise((resolve) => setTimeout(resolve, 0));
      await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
      out.push([text, performance.now() - start, count()]);
    }
    return out;
  });
  for (const [text, ms, shown] of times) console.log(`  "${text}": ${ms.toFixed(1)} ms → ${shown} shown`);
  const ms = times.map(([, t]) => t);
  console.log(`filter ${SERVICES + 6} services per keystroke, ms: median ${median(ms).toFixed(1)}, max ${Math.max(...ms).toFixed(1)} (budget 50)`);
  await context.close();
}

payload();
const server = await startServer({ demo: true });
try {
  const admin = await apiSession(server.url, 'admin', ADMIN_PASSWORD);
  const services = Array.from({ length: SERVICES }, (_, i) => ({
    service: `bulk-${i}`,
    description: `Bulk service ${i}`,
    owners: [`team-${i % 40}`],
    schema: { n: { type: 'int', default: 0 } },
  }));
  const imported = await admin.call('POST', '/import', {
    document: { format: 'setpoint/1', environments: [], services },
    reason: 'console bench',
  });
  if (imported.status !== 200) throw new Error(`import: ${imported.status} ${JSON.stringify(imported.body)}`);
  const browser = await launchBrowser();
  try {
    await coldLoad(browser, server.url);
    await filtering(browser, server.url);
  } finally {
    await browser.close();
  }
} finally {
  await server.stop();
}
