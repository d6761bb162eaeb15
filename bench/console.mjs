// Prints the console's three budget figures (issue 4), measured in Debian's
// headless Chromium against the real server and the release console:
//   - payload: the wasm, js and css a cold browser fetches for the login
//     page and the overview, then for each page's first visit, gzipped;
//   - cold load to interactive from localhost (empty cache);
//   - per-keystroke filtering of a 2,000-service list.
// Not a test: it asserts nothing. Run through bench/console.sh.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { ADMIN_PASSWORD, apiSession, launchBrowser, login, startServer } from '../e2e/harness.mjs';

const dist = process.env.SETPOINT_CONSOLE_DIR;
const SERVICES = 2_000;
const RUNS = 5;

const gzipped = new Map(); // file → gzip -9 size, computed once
function gz(file) {
  if (!gzipped.has(file)) {
    const bytes = readFileSync(path.join(dist, file));
    gzipped.set(file, [bytes.length, gzipSync(bytes, { level: 9 }).length]);
  }
  return gzipped.get(file);
}

/** Sums what a step fetched (wasm, js, css): the console is split per page
 *  (scripts/console-wasm.sh), so the payload is what the browser asks for,
 *  not what dist/ holds. */
function report(step, files) {
  let raw = 0;
  let zipped = 0;
  for (const file of files) {
    const [r, z] = gz(file);
    raw += r;
    zipped += z;
  }
  console.log(`  ${step}: ${files.length} files, ${raw} B, ${zipped} B gzipped`);
  return zipped;
}

async function payload(browser, url) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  let fetched = [];
  page.on('response', (response) => {
    const file = new URL(response.url()).pathname.slice(1);
    if (/\.(wasm|js|css)$/.test(file)) fetched.push(file);
  });
  const take = () => {
    const files = [...new Set(fetched)];
    fetched = [];
    return files;
  };
  console.log('payload, as fetched by a cold browser (gzip -9 of each file):');
  await page.goto(url);
  await page.getByLabel('User name').waitFor();
  const login = report('login page', take());
  await page.getByLabel('User name').fill('admin');
  await page.getByLabel('Password').fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
  const overview = report('then the overview', take());
  console.log(`initial payload (login page and the overview after it): ${login + overview} B gzipped (budget 250 KB)`);
  // Each page's own code arrives the first time it is shown.
  for (const name of ['Services', 'Flags', 'Breakers', 'Audit', 'Document editor']) {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name }).click();
    await page.getByRole('heading', { name, level: 1 }).waitFor();
    report(`then ${name}`, take());
  }
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Services' }).click();
  // The first 50 of 2,006 services are listed: narrow to the one wanted.
  await page.locator('#service-search').fill('payments-gateway');
  await page.getByRole('link', { name: 'payments-gateway' }).click();
  await page.getByRole('heading', { name: 'payments-gateway', level: 1 }).waitFor();
  report('then a service (config form)', take());
  const all = readdirSync(dist, { recursive: true }).filter((file) => /\.(wasm|js|css)$/.test(file));
  report('the whole console (every file in dist/)', all);
  await context.close();
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
    await payload(browser, server.url);
    await coldLoad(browser, server.url);
    await filtering(browser, server.url);
  } finally {
    await browser.close();
  }
} finally {
  await server.stop();
}
