// Admin pages: an admin creates a service from a template in the document
// editor (not while the document is invalid), opens it, deletes it with a
// reason and restores it from the services list; and adds an environment
// on the overview, which shows it at once. An editor creates a flag, adds
// its first targeting and deletes it, but gets none of the admin controls,
// and the server refuses the same steps. Real server with the
// demo data, the real release console, Debian's Chromium.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
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
  await page.getByLabel('New flag in').selectOption('search');
  await page.getByRole('button', { name: 'Continue' }).click();
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
  // The flag chosen for the user once the service is read again.
  await page.waitForFunction(() => document.getElementById('flag-key')?.value === 'typo-tolerance');

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

test('an admin exports everything, and imports a changed document after its preview', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  // The invalid document below is refused with a 422, on purpose.
  const errors = watchErrors(page, [['/api/v1/me', 401], ['/api/v1/import', 422]]);
  await login(page, server.url, 'admin', ADMIN_PASSWORD);
  await page.getByRole('link', { name: 'Services' }).click();
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: 'Export everything' }).click(),
  ]);
  const exported = JSON.parse(readFileSync(await download.path(), 'utf8'));
  assert.equal(exported.format, 'setpoint/1');
  const services = exported.services.length;

  const dir = mkdtempSync(path.join(tmpdir(), 'setpoint-import-'));
  const file = (name, document) => {
    const where = path.join(dir, name);
    writeFileSync(where, JSON.stringify(document));
    return where;
  };
  // A document the server refuses: the problem is named at its path.
  const broken = structuredClone(exported);
  broken.services.find((s) => s.service === 'search').values = { nowhere: {} };
  await page.locator('#import-file').setInputFiles(file('broken.json', broken));
  await page.getByText(/services\[\d+\]\.values/).first().waitFor();
  assert.equal(await page.getByRole('button', { name: 'Apply import' }).count(), 0);

  const changed = structuredClone(exported);
  changed.environments.push({ name: 'qa', description: 'Testers' });
  changed.services.find((s) => s.service === 'search').description = 'Search, imported';
  changed.services.push({ service: 'archive', schema: {} });
  await page.locator('#import-file').setInputFiles(file('changed.json', changed));
  const preview = page.getByRole('region', { name: 'Import preview' });
  await preview.getByText(`1 environment(s) to create, 1 service(s) to create, 1 to replace, ${services - 1} unchanged.`).waitFor();
  await preview.getByText('Replace service search (1 change(s))').waitFor();
  await preview.locator('.diff__after', { hasText: 'Search, imported' }).waitFor();
  assert.equal((await admin.call('GET', '/services/archive')).status, 404, 'a preview changes nothing');
  await screenshot(page, '53-import-preview');
  await page.getByLabel('Reason').fill('e2e: import from staging setup');
  await page.getByRole('button', { name: 'Apply import' }).click();
  await page.getByText('Imported: 3 change(s).').waitFor();
  assert.equal((await admin.call('GET', '/services/search')).body.doc.description, 'Search, imported');
  assert.equal((await admin.call('GET', '/services/archive')).status, 200);
  const log = await admin.call('GET', '/changes?service=archive&limit=1');
  assert.equal(log.body.changes[0]?.reason, 'e2e: import from staging setup');
  assert.deepEqual(errors, []);
  rmSync(dir, { recursive: true, force: true });
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
  await page.getByRole('link', { name: 'Services' }).click();
  assert.equal(await page.getByRole('link', { name: 'Export everything' }).count(), 0);
  const eve = await apiSession(server.url, 'eve', 'eve-password-12');
  const service = JSON.parse(readFileSync(new URL('../examples/checkout.json', import.meta.url)));
  for (const [method, path, body] of [
    ['POST', '/services', { document: { ...service, service: 'sneaky' } }],
    ['DELETE', '/services/checkout'],
    ['POST', '/environments', { name: 'sneaky' }],
    ['POST', '/import', { document: { format: 'setpoint/1', environments: [], services: [] }, dry_run: true }],
  ]) {
    assert.equal((await eve.call(method, path, body)).status, 403, `${method} ${path}`);
  }
  await context.close();
});
