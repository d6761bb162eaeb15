// Prints the console's budget figures (issues 4 and 22), measured in
// Debian's headless Chromium against the real server and the release
// console:
//   - per page, what a cold browser moved over the wire (every answer's
//     body as sent, compressed or not, plus its headers) and how many
//     requests it made: the login page, the overview after it, each page's
//     first visit, then a service's config form;
//   - cold load to interactive from localhost (empty cache);
//   - per-keystroke filtering of a 2,000-service list and of the flags
//     overview with a flag in each (2,007 flags).
// Not a test: it asserts nothing. Run through bench/console.sh.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { brotliCompressSync } from 'node:zlib';
import { ADMIN_PASSWORD, apiSession, launchBrowser, login, startServer } from '../e2e/harness.mjs';

const dist = process.env.SETPOINT_CONSOLE_DIR;
const SERVICES = 2_000;
const RUNS = 5;

const kb = (bytes) => `${(bytes / 1000).toFixed(1)} KB`;

/** Records what a page asks for: requests as they start (an event stream
 *  never finishes), bytes as they finish, from Chromium's own counts. */
function recorder(page) {
  let requests = 0;
  let sizes = [];
  page.on('request', () => { requests += 1; });
  page.on('requestfinished', (request) => {
    sizes.push(request.sizes().then((s) => s.responseBodySize + s.responseHeadersSize));
  });
  return async (step) => {
    const bytes = (await Promise.all(sizes)).reduce((a, b) => a + b, 0);
    console.log(`  ${step}: ${requests} requests, ${kb(bytes)} over the wire`);
    const figures = { requests, bytes };
    requests = 0;
    sizes = [];
    return figures;
  };
}

async function payload(browser, url) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const take = recorder(page);
  console.log('per page, as a cold browser loads it:');
  await page.goto(url);
  await page.getByLabel('User name').waitFor();
  const login = await take('login page');
  await page.getByLabel('User name').fill('admin');
  await page.getByLabel('Password').fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
  await page.waitForLoadState('networkidle').catch(() => {});
  await take('then the overview');
  console.log(`login page: ${kb(login.bytes)} over the wire (budget 250 KB)`);
  // A service page first, right after login: the budget is at
  // most 400 KB more and 20 requests. The way there is the Services list;
  // 2,006 services are listed 50 at a time, so narrow to the one wanted.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Services' }).click();
  await page.getByRole('heading', { name: 'Services', level: 1 }).waitFor();
  await page.waitForLoadState('networkidle').catch(() => {});
  const list = await take('then Services');
  await page.locator('#service-search').fill('payments-gateway');
  await page.getByRole('link', { name: 'payments-gateway' }).click();
  await page.getByRole('heading', { name: 'payments-gateway', level: 1 }).waitFor();
  await page.waitForLoadState('networkidle').catch(() => {});
  const service = await take('then a service (config form)');
  console.log(`first service page after login: ${kb(service.bytes)}, ${service.requests} requests; with the Services list before it ${kb(list.bytes + service.bytes)}, ${list.requests + service.requests} requests (budget 400 KB, 20 requests)`);
  // Each other page's own code arrives the first time it is shown.
  const headings = { Reviews: 'Changes awaiting review' };
  for (const name of ['Flags', 'Breakers', 'Fleet', 'Reviews', 'Audit', 'Document editor']) {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name }).click();
    await page.getByRole('heading', { name: headings[name] ?? name, level: 1 }).waitFor();
    await page.waitForLoadState('networkidle').catch(() => {});
    await take(`then ${name}`);
  }
  await context.close();

  const files = readdirSync(dist, { recursive: true }).filter((file) => /\.(wasm|js|css)$/.test(file));
  const raw = files.reduce((sum, file) => sum + readFileSync(path.join(dist, file)).length, 0);
  const br = files.reduce((sum, file) => sum + brotliCompressSync(readFileSync(path.join(dist, file))).length, 0);
  console.log(`the whole console: ${files.length} files, ${kb(raw)}, ${kb(br)} as brotli`);
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

/** Per keystroke into the input `id`: from the input event to the list
 *  updated and painted; `counted` reads the count line's number. */
async function keystrokes(page, id, counted, texts) {
  const times = await page.evaluate(async ([id, counted, texts]) => {
    const input = document.getElementById(id);
    const count = () => document.body.innerText.match(new RegExp(counted))?.[1];
    const out = [];
    for (const text of texts) {
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
  }, [id, counted, texts]);
  for (const [text, ms, shown] of times) console.log(`  "${text}": ${ms.toFixed(1)} ms → ${shown} shown`);
  return times.map(([, t]) => t);
}

async function filtering(browser, url) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await login(page, url, 'admin', ADMIN_PASSWORD);
  const texts = ['b', 'bu', 'bul', 'bulk', 'bulk-1', 'bulk-19', 'bulk-199', 'bulk-19', 'bulk-1', 'bulk', 'team-7', ''];
  const nav = page.getByRole('navigation', { name: 'Main' });
  await nav.getByRole('link', { name: 'Services' }).click();
  await page.getByText(`${SERVICES + 6} service(s)`, { exact: false }).first().waitFor({ timeout: 60_000 });
  let ms = await keystrokes(page, 'service-search', '(\\d+) service\\(s\\)', texts);
  console.log(`filter ${SERVICES + 6} services per keystroke, ms: median ${median(ms).toFixed(1)}, max ${Math.max(...ms).toFixed(1)} (budget 50)`);
  // The flags overview: one flag per bulk service beside the demo's 7.
  await nav.getByRole('link', { name: 'Flags' }).click();
  await page.getByText(`${SERVICES + 7} flag(s)`, { exact: false }).first().waitFor({ timeout: 60_000 });
  ms = await keystrokes(page, 'flags-search', '(\\d+) flag\\(s\\)', texts.map((t) => t.replace('bulk', 'flag')));
  console.log(`filter ${SERVICES + 7} flags per keystroke, ms: median ${median(ms).toFixed(1)}, max ${Math.max(...ms).toFixed(1)} (budget 50)`);
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
    // A flag each, split in prod, for the flags overview's filtering.
    flags: {
      [`flag-${i}`]: {
        description: `Gates bulk feature ${i}`,
        variants: { on: true, off: false },
        off: 'off',
        environments: {
          prod: {
            enabled: i % 2 === 0,
            default: { split: { weights: [{ variant: 'on', weight: 1 + (i % 99) }, { variant: 'off', weight: 99 - (i % 99) }] } },
          },
        },
      },
    },
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
