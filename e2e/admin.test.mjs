// Admin pages: an admin creates a service from a template in the document
// editor (not while the document is invalid), opens it, deletes it with a
// reason and restores it from the services list; and adds an environment
// on the overview, which shows it at once. An editor creates a flag, adds
// its first targeting and deletes it, but gets none of the admin controls,
// and the server refuses the same steps. Real server with the
// demo data, the real release console, Debian's Chromium.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ADMIN_PASSWORD, apiSession, launchBrowser, login, screenshot, startServer, watchErrors,
} from './harness.mjs';

let server;
let browser;
let admin;

before(async () => {
  server = await startServer({ demo: true });
  browser = await launchBrowser();
  admin = await apiSession(server.url, 'admin', ADMIN_PASSWORD);
  const created = await admin.call('POST', '/users', { username: 'eve', password: 'eve-password-12', role: 'editor' });
  assert.equal(created.status, 201, JSON.stringify(created.body));
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('an admin creates a service from a template, deletes it with a reason and restores it', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  const errors = watchErrors(page);
  await login(page, server.url, 'admin', ADMIN_PASSWORD);
  await page.getByRole('link', { name: 'Document editor' }).click();
  await page.getByLabel('Start from').selectOption('empty');
  const document = page.getByLabel('Service document (JSON)');
  const text = (await document.inputValue()).replace('new-service', 'ledger');
  // Invalid first: nothing can be created.
  await document.fill(text.replace('"schema": {}', '"schema": 7'));
  const create = page.getByRole('button', { name: /^Create service/ });
  assert.equal(await create.isDisabled(), true, 'an invalid document cannot be created');
  await document.fill(text);
  await page.getByLabel('Reason').fill('e2e: new ledger service');
  await page.getByRole('button', { name: 'Create service ledger' }).click();
  await page.getByText(/Created as revision \d+\./).waitFor();
  const made = await admin.call('GET', '/services/ledger');
  assert.equal(made.status, 200);
  assert.equal(made.body.doc.description, 'What it does');
  await screenshot(page, '50-service-created');

  await page.getByRole('link', { name: 'Open ledger' }).click();
  await page.getByRole('heading', { name: 'ledger', level: 1 }).waitFor();
  await page.getByRole('button', { name: 'Delete service…' }).click();
  await page.locator('#delete-service').fill('e2e: not needed after all');
  await page.getByRole('button', { name: 'Delete', exact: true }).click();
  // Deleted, the services list shows it apart with its reclaim time.
  const deleted = page.getByRole('table', { name: 'Deleted services' });
  const row = deleted.getByRole('row').filter({ hasText: 'ledger' });
  await row.waitFor();
  const gone = await admin.call('GET', '/services/ledger');
  assert.ok(gone.body.tombstone?.reclaim_at, JSON.stringify(gone.body));
  assert.ok((await row.textContent()).includes(gone.body.tombstone.reclaim_at));
  const log = await admin.call('GET', '/changes?service=ledger&limit=1');
  assert.equal(log.body.changes[0]?.reason, 'e2e: not needed after all');

  await row.getByRole('button', { name: 'Restore…' }).click();
  await page.locator('#restore-ledger').fill('e2e: needed after all');
  await row.getByRole('button', { name: 'Restore', exact: true }).click();
  await deleted.waitFor({ state: 'detached' });
  assert.equal((await admin.call('GET', '/services/ledger')).body.tombstone, undefined);
  assert.deepEqual(errors, []);
  await context.close();
});

test('an admin adds an environment on the overview and it shows at once', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  const errors = watchErrors(page);
  await login(page, server.url, 'admin', ADMIN_PASSWORD);
  const form = page.getByRole('form', { name: 'New environment' });
  await form.getByLabel('New environment').fill('perf');
  await form.getByLabel('Description').fill('Load tests');
  await form.getByLabel('Reason').fill('e2e: a place for load tests');
  await form.getByRole('button', { name: 'Create environment' }).click();
  await page.getByText(/Environment perf created as revision \d+\./).waitFor();
  const card = page.getByRole('article', { name: 'Environment perf' });
  await card.getByText('Load tests').waitFor();
  await screenshot(page, '51-environment-created');
  const environments = await admin.call('GET', '/environments');
  assert.ok(environments.body.some((e) => e.name === 'perf' && e.description === 'Load tests'));
  assert.deepEqual(errors, []);
  await context.close();
});

test('an editor creates a flag, adds targeting in staging, saves it, and deletes the flag', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  const errors = watchErrors(page);
  await login(page, server.url, 'eve', 'eve-password-12');
  await page.getByRole('link', { name: 'Flags' }).click();
  await page.getByLabel('Service').selectOption('search');
  const form = page.getByRole('form', { name: 'New flag' });
  // The core's check of the key, before anything is sent.
  await form.getByLabel('New flag key').fill('semantic-search');
  await form.getByText('semantic-search exists in this service').waitFor();
  await form.getByLabel('New flag key').fill('bad key!');
  assert.equal(await form.getByRole('button', { name: 'Create flag' }).isDisabled(), true);
  await form.getByLabel('New flag key').fill('typo-tolerance');
  await form.getByLabel('What it gates').fill('Fuzzy matching of queries');
  await form.getByRole('button', { name: 'Create flag' }).click();
  await page.getByText('Flag typo-tolerance created, targeted nowhere yet').waitFor();
  assert.equal(await page.getByLabel('Flag', { exact: true }).inputValue(), 'typo-tolerance');

  await page.getByLabel('Environment').selectOption('staging');
  await page.getByText('Not targeted in this environment').waitFor();
  await page.getByRole('button', { name: 'Add targeting in staging' }).click();
  await page.getByRole('switch').check();
  await page.locator('#flag-reason').fill('e2e: try it in staging');
  await page.getByRole('button', { name: 'Save flag' }).click();
  await page.getByText(/Saved as revision \d+/).waitFor();
  const saved = (await admin.call('GET', '/services/search')).body.doc.flags['typo-tolerance'];
  assert.deepEqual(saved.environments.staging, { enabled: true, rules: [], default: { variant: 'off' } });
  assert.equal(saved.description, 'Fuzzy matching of queries');
  await screenshot(page, '52-flag-created');

  await page.getByRole('button', { name: 'Delete flag…' }).click();
  await page.locator('#delete-flag').fill('e2e: not this quarter');
  await page.getByRole('button', { name: 'Delete', exact: true }).click();
  await page.getByRole('form', { name: 'New flag' }).waitFor();
  const after = (await admin.call('GET', '/services/search')).body.doc.flags;
  assert.equal(after['typo-tolerance'], undefined);
  const log = await admin.call('GET', '/changes?service=search&item=typo-tolerance&limit=1');
  assert.equal(log.body.changes[0]?.reason, 'e2e: not this quarter');
  assert.deepEqual(errors, []);
  await context.close();
});

test('an editor gets no admin controls, and the server refuses the same steps', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await login(page, server.url, 'eve', 'eve-password-12');
  assert.equal(await page.getByRole('form', { name: 'New environment' }).count(), 0);
  await page.getByRole('link', { name: 'Services' }).click();
  await page.getByRole('link', { name: 'checkout', exact: true }).click();
  await page.getByRole('heading', { name: 'checkout', level: 1 }).waitFor();
  assert.equal(await page.getByRole('button', { name: 'Delete service…' }).count(), 0);
  await page.getByRole('link', { name: 'Document editor' }).click();
  await page.getByLabel('Service document (JSON)').waitFor();
  assert.equal(await page.getByRole('button', { name: /^Create service/ }).isVisible(), false);
  const eve = await apiSession(server.url, 'eve', 'eve-password-12');
  const service = JSON.parse((await import('node:fs')).readFileSync(new URL('../examples/checkout.json', import.meta.url)));
  for (const [method, path, body] of [
    ['POST', '/services', { document: { ...service, service: 'sneaky' } }],
    ['DELETE', '/services/checkout'],
    ['POST', '/environments', { name: 'sneaky' }],
  ]) {
    assert.equal((await eve.call(method, path, body)).status, 403, `${method} ${path}`);
  }
  await context.close();
});
