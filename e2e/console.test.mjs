// The console end to end, per role: real server with the demo data, the
// real release console, Debian's Chromium. Screenshots of each step go to
// test-artifacts/screenshots.
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
  for (const [username, role] of [['vera', 'viewer'], ['eddie', 'editor'], ['rolf', 'rollout']]) {
    const created = await admin.call('POST', '/users', { username, password: `${username}-password-1`, role });
    assert.equal(created.status, 201, JSON.stringify(created.body));
  }
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** The `search` service's config form for `dev`. */
async function openSearchDev(page) {
  await page.getByRole('link', { name: 'Services' }).click();
  await page.getByLabel('Search').fill('sear');
  await page.getByText('1 service(s)').waitFor();
  await page.getByRole('link', { name: 'search', exact: true }).click();
  await page.getByRole('tab', { name: 'dev' }).click();
  await page.getByLabel('throttle.rps', { exact: true }).waitFor();
}

/** The flags page on search's `semantic-search` flag in `env`. */
async function openSemanticSearch(page, env) {
  await page.getByRole('link', { name: 'Flags' }).click();
  // From the overview's row to the flag's own page.
  await page.getByRole('link', { name: 'semantic-search', exact: true }).click();
  await page.getByLabel('Environment', { exact: true }).selectOption(env);
}

test('admin: an invalid edit sends nothing; a valid one saves, shows in the audit and rolls back', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = watchErrors(page);
  const writes = [];
  page.on('request', (request) => {
    if (request.method() === 'PATCH') writes.push(request.url());
  });

  await login(page, server.url, 'admin', ADMIN_PASSWORD);
  await screenshot(page, '10-admin-logged-in');
  await openSearchDev(page);
  const field = page.getByLabel('throttle.rps', { exact: true });
  const original = (await admin.call('GET', '/services/search')).body.doc.values.dev?.['throttle.rps'];

  await field.fill('5');
  const fieldBox = page.locator('.config__field', { has: field });
  await fieldBox.locator('.field__errors li').filter({ hasText: 'below the minimum 10' }).waitFor();
  const save = page.getByRole('button', { name: 'Review and save…' });
  assert.equal(await save.isDisabled(), true, 'save is disabled while invalid');
  await screenshot(page, '11-config-invalid');
  assert.deepEqual(writes, [], 'an invalid form sends no request');

  await field.fill('1234');
  assert.equal(await fieldBox.locator('.field__errors li').count(), 0);
  await save.click();
  const review = page.getByRole('region', { name: 'Review changes' });
  await review.getByText('1234').waitFor();
  await screenshot(page, '12-config-review');
  await review.getByRole('button', { name: 'Save' }).click();
  await page.getByText(/Saved as revision \d+/).waitFor();
  assert.equal(writes.length, 1);
  const stored = await admin.call('GET', '/services/search');
  assert.equal(stored.body.doc.values.dev['throttle.rps'], 1234);

  await page.getByRole('link', { name: 'Audit' }).click();
  const entry = page.locator('.changes__entry').filter({ hasText: 'values_changed' }).filter({ hasText: 'search / dev' }).first();
  await entry.getByRole('button').first().click();
  await entry.locator('.diff__after').filter({ hasText: '1234' }).waitFor();
  await screenshot(page, '13-audit-diff');

  await entry.getByRole('button', { name: 'Roll back to before this…' }).click();
  const preview = entry.getByRole('region', { name: 'Rollback preview' });
  await preview.locator('.diff__before').filter({ hasText: '1234' }).waitFor();
  await preview.getByLabel('Reason').fill('e2e: undo');
  await screenshot(page, '14-rollback-preview');
  await preview.getByRole('button', { name: 'Roll back' }).click();
  await page.locator('.changes__entry').filter({ hasText: 'rollback' }).first().waitFor();
  const rolledBack = await admin.call('GET', '/services/search');
  assert.deepEqual(rolledBack.body.doc.values.dev?.['throttle.rps'], original, 'back to what it was');
  await screenshot(page, '15-rolled-back');
  assert.deepEqual(errors, []);
  await context.close();
});

test('a rollback confirms the state it previewed: a change landing in between is a conflict, not rolled over', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = watchErrors(page, [['/api/v1/me', 401], ['/rollback', 409]]);
  const patch = async (value) => {
    const base = (await admin.call('GET', '/services/recommendations')).body.revision;
    const written = await admin.call('PATCH', '/services/recommendations/values/prod',
      { set: { candidates: value }, base_revision: base, reason: 'e2e' });
    assert.equal(written.status, 200, JSON.stringify(written.body));
    return written.body.revision;
  };
  const revision = await patch(555);

  await login(page, server.url, 'admin', ADMIN_PASSWORD);
  await page.getByRole('link', { name: 'Audit', exact: true }).click();
  const entry = page.locator('.changes__entry')
    .filter({ has: page.locator('.changes__revision', { hasText: new RegExp(`^#${revision}$`) }) });
  await entry.getByRole('button').first().click();
  await entry.getByRole('button', { name: 'Roll back to before this…' }).click();
  const preview = entry.getByRole('region', { name: 'Rollback preview' });
  await preview.locator('.diff__before').filter({ hasText: '555' }).waitFor();

  // Someone else changes the service while the preview is open.
  await patch(777);
  await preview.getByRole('button', { name: 'Roll back' }).click();
  await entry.getByRole('alert').filter({ hasText: 'preview again' }).waitFor();
  await screenshot(page, '19-rollback-stale-preview');
  const stored = await admin.call('GET', '/services/recommendations');
  assert.equal(stored.body.doc.values.prod.candidates, 777, 'the change made meanwhile stands');
  assert.deepEqual(errors, []);
  await context.close();
});

test('a viewer sees no edit controls, and a write from that session is refused', async () => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  const errors = watchErrors(page, [['/api/v1/me', 401], ['/values/dev', 403]]);
  await login(page, server.url, 'vera', 'vera-password-1');
  await page.getByRole('link', { name: 'Services' }).click();
  // Filtering is reading: the list narrows to services with an override, a
  // targeted flag or a breaker in the environment (payments-gateway has
  // none in dev).
  const list = page.getByRole('table', { name: 'Services' });
  const gateway = list.getByRole('link', { name: 'payments-gateway', exact: true });
  await gateway.waitFor();
  await page.getByLabel('Configured in').selectOption('dev');
  await gateway.waitFor({ state: 'detached' });
  await list.getByRole('link', { name: 'search', exact: true }).waitFor();
  await screenshot(page, '45-services-configured-in-dev');
  await page.getByLabel('Configured in').selectOption('staging');
  await gateway.waitFor();
  await page.getByRole('link', { name: 'search', exact: true }).click();
  await page.getByRole('tab', { name: 'dev' }).click();
  await page.locator('output#key-throttle\\.rps').waitFor();
  const form = page.getByRole('form', { name: 'Config' });
  assert.equal(await form.locator('input, select, textarea').count(), 0, 'no inputs');
  assert.equal(await form.getByRole('button').count(), 0, 'no buttons');
  await screenshot(page, '16-viewer-read-only');

  const status = await page.evaluate(async () => {
    const me = await (await fetch('/api/v1/me')).json();
    const answer = await fetch('/api/v1/services/search/values/dev', {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrf_token },
      body: JSON.stringify({ set: { 'throttle.rps': 100 }, base_revision: 1 }),
    });
    return answer.status;
  });
  assert.equal(status, 403);
  assert.deepEqual(errors, []);
  await context.close();
});

test('two people edit one service: the second sees the conflict and re-applies', async () => {
  const first = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const second = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const a = await first.newPage();
  const b = await second.newPage();
  const errors = watchErrors(b, [['/api/v1/me', 401], ['/values/dev', 409]]);
  await login(a, server.url, 'admin', ADMIN_PASSWORD);
  await login(b, server.url, 'eddie', 'eddie-password-1');
  await openSearchDev(a);
  await openSearchDev(b);

  await a.getByLabel('results.page_size', { exact: true }).fill('42');
  await a.getByRole('button', { name: 'Review and save…' }).click();
  await a.getByRole('region', { name: 'Review changes' }).getByRole('button', { name: 'Save' }).click();
  await a.getByText(/Saved as revision \d+/).waitFor();

  // Live: the second editor is told before saving; the first is not told
  // about their own change.
  const banner = b.getByRole('status').filter({ hasText: 'changed this service' });
  await banner.getByText('user:admin').waitFor();
  await screenshot(b, '16-someone-else-changed-this');
  assert.equal(await a.getByText('changed this service').count(), 0);

  await b.getByLabel('throttle.rps', { exact: true }).fill('777');
  await b.getByRole('button', { name: 'Review and save…' }).click();
  await b.getByRole('region', { name: 'Review changes' }).getByRole('button', { name: 'Save' }).click();
  const conflict = b.locator('.conflict');
  await conflict.getByText('Changed meanwhile').waitFor();
  await conflict.locator('.diff__after').filter({ hasText: '42' }).waitFor();
  await screenshot(b, '17-conflict');

  await conflict.getByRole('button', { name: 'Re-apply my edits on the new revision' }).click();
  await b.getByRole('button', { name: 'Review and save…' }).click();
  await b.getByRole('region', { name: 'Review changes' }).getByRole('button', { name: 'Save' }).click();
  await b.getByText(/Saved as revision \d+/).waitFor();
  const stored = await admin.call('GET', '/services/search');
  assert.equal(stored.body.doc.values.dev['throttle.rps'], 777, 'the second edit landed');
  assert.equal(stored.body.doc.values.dev['results.page_size'], 42, 'the first edit kept');
  await screenshot(b, '18-conflict-resolved');
  assert.deepEqual(errors, []);
  await first.close();
  await second.close();
});

test('overview: environments with their open breakers and the latest changes, live', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = watchErrors(page);
  await login(page, server.url, 'vera', 'vera-password-1');
  const prod = page.getByRole('article', { name: 'Environment prod' });
  await prod.getByText('1 open').waitFor();
  await page.getByRole('article', { name: 'Environment staging' }).getByText('1 open').waitFor();
  let navigations = 0;
  page.on('framenavigated', () => { navigations += 1; });

  const tripped = await admin.call('POST', '/services/recommendations/breakers/model-server/environments/prod/trip',
    { reason: 'model server rollout gone wrong' });
  assert.equal(tripped.status, 200, JSON.stringify(tripped.body));
  await prod.getByText('2 open').waitFor();
  await page.locator('.overview__changes li').first().getByText('model server rollout gone wrong').waitFor();
  assert.equal(navigations, 0, 'updated without a reload');
  await screenshot(page, '15-overview-live');
  const closed = await admin.call('POST', '/services/recommendations/breakers/model-server/environments/prod/close',
    { reason: 'rolled back' });
  assert.equal(closed.status, 200, JSON.stringify(closed.body));
  await prod.getByText('1 open').waitFor();
  assert.deepEqual(errors, []);
  await context.close();
});

test('a rollout user takes a split from 10% to 50%; the simulator agrees with the snapshot; config stays read-only', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = watchErrors(page, [['/api/v1/me', 401], ['/values/prod', 403]]);
  await login(page, server.url, 'rolf', 'rolf-password-1');

  await openSemanticSearch(page, 'prod');
  const on = page.getByLabel('on %');
  assert.equal(await on.inputValue(), '10');
  const spread = page.getByRole('table', { name: 'Distribution' });
  const share = async () => Number.parseFloat(await spread.locator('tr[data-variant="on"] td').textContent());
  await spread.locator('tr[data-variant="on"]').waitFor();
  assert.ok(Math.abs((await share()) - 10) < 3, `about 10 % on before, got ${await share()}`);
  await screenshot(page, '19-rollout-10');

  await on.fill('50');
  await on.dispatchEvent('change');
  await page.getByText('Sum: 140 of 100').waitFor();
  assert.equal(await page.getByRole('button', { name: 'Save flag' }).isDisabled(), true, 'a split over 100 cannot be saved');
  const off = page.getByLabel('off %');
  await off.fill('50');
  await off.dispatchEvent('change');
  await page.getByText('Sum: 100 of 100').waitFor();
  await page.locator('#flag-reason').fill('e2e: widen the rollout');
  await page.getByRole('button', { name: 'Save flag' }).click();
  const saved = page.locator('.flag [role=status]').filter({ hasText: /\S/ });
  await saved.waitFor();
  assert.match(await saved.textContent(), /Saved as revision \d+/);
  await screenshot(page, '20-rollout-50');

  const snapshot = await admin.call('GET', '/environments/prod/snapshot/search');
  const served = snapshot.body.services.search.flags['semantic-search'].default.split.weights;
  assert.deepEqual(served, [{ variant: 'on', weight: 50 }, { variant: 'off', weight: 50 }]);
  await page.getByLabel('Flag').selectOption('semantic-search');
  assert.ok(Math.abs((await share()) - 50) < 5, `about 50 % on after, got ${await share()}`);

  await page.getByRole('link', { name: 'Services' }).click();
  await page.getByRole('link', { name: 'search', exact: true }).click();
  await page.getByRole('tab', { name: 'prod' }).click();
  await page.locator('output#key-throttle\\.rps').waitFor();
  assert.equal(await page.getByRole('form', { name: 'Config' }).locator('input, select, textarea').count(), 0,
    'a rollout user cannot edit config values');
  const status = await page.evaluate(async () => {
    const me = await (await fetch('/api/v1/me')).json();
    const answer = await fetch('/api/v1/services/search/values/prod', {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrf_token },
      body: JSON.stringify({ set: { 'throttle.rps': 100 }, base_revision: 1 }),
    });
    return answer.status;
  });
  assert.equal(status, 403);
  assert.deepEqual(errors, []);
  await context.close();
});

test('a rollout user builds a rule: refused until complete, reordered, simulated, saved', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = watchErrors(page);
  await login(page, server.url, 'rolf', 'rolf-password-1');
  await openSemanticSearch(page, 'staging');
  const save = page.getByRole('button', { name: 'Save flag' });
  assert.equal(await page.getByRole('button', { name: 'Add variant' }).count(), 0, 'variants are for editors');

  await page.getByRole('button', { name: 'Add rule' }).click();
  await page.locator('.field__errors li').filter({ hasText: 'rules[0]' }).first().waitFor();
  assert.equal(await save.isDisabled(), true, 'an incomplete rule cannot be saved');
  const commit = async (locator, text) => { await locator.fill(text); await locator.dispatchEvent('change'); };
  await commit(page.getByLabel('Attribute of rule 1 condition 1'), 'country');
  await page.getByLabel('Operator of rule 1 condition 1').selectOption('in');
  await commit(page.getByLabel('Value of rule 1 condition 1'), 'DE, FR');
  await page.locator('#rule-0-serve').selectOption('on');
  await commit(page.getByLabel('Rule 1 name'), 'europe');

  // A second rule, moved above the first, then removed again.
  await page.getByRole('button', { name: 'Add rule' }).click();
  await commit(page.getByLabel('Rule 2 name'), 'second');
  await page.getByRole('button', { name: 'Move rule 2 up' }).click();
  assert.equal(await page.getByLabel('Rule 1 name').inputValue(), 'second');
  assert.equal(await page.getByLabel('Rule 2 name').inputValue(), 'europe');
  await page.getByRole('button', { name: 'Remove rule 1', exact: true }).click();
  assert.equal(await page.getByLabel('Rule 1 name').inputValue(), 'europe');
  assert.equal(await page.getByLabel('Rule 2 name').count(), 0);
  assert.equal(await page.locator('.field__errors li').count(), 0, 'no problems left');

  const simulator = page.getByRole('region', { name: 'Simulator' });
  await simulator.getByLabel('Evaluation context (JSON)').fill('{"targetingKey": "user-7", "country": "DE"}');
  await simulator.locator('output').filter({ hasText: 'variant on' }).filter({ hasText: 'rule 1' }).waitFor();
  await simulator.getByLabel('Evaluation context (JSON)').fill('{"targetingKey": "user-7", "country": "US"}');
  await simulator.locator('output').filter({ hasText: 'rule none' }).waitFor();
  await screenshot(page, '21-rule-builder');

  await page.locator('#flag-reason').fill('EU launch');
  await save.click();
  await page.getByText(/Saved as revision \d+/).waitFor();
  const stored = (await admin.call('GET', '/services/search')).body.doc.flags['semantic-search'].environments.staging;
  assert.deepEqual(stored.rules, [{ name: 'europe', when: [{ attribute: 'country', op: 'in', values: ['DE', 'FR'] }], serve: { variant: 'on' } }]);
  assert.deepEqual(errors, []);
  await context.close();
});

test('an editor adds a variant: a value of another type is refused, a matching one saves', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = watchErrors(page);
  await login(page, server.url, 'eddie', 'eddie-password-1');
  await openSemanticSearch(page, 'dev');
  await page.getByLabel('New variant').fill('dark');
  await page.getByLabel('Its value').fill('1');
  await page.getByRole('button', { name: 'Add variant' }).click();
  await page.locator('.field__errors li').filter({ hasText: 'variants' }).first().waitFor();
  assert.equal(await page.getByRole('button', { name: 'Save flag' }).isDisabled(), true, 'mixed types cannot be saved');
  await screenshot(page, '22-variant-type-mismatch');
  const value = page.getByLabel('Value of variant dark');
  await value.fill('false');
  await value.dispatchEvent('change');
  assert.equal(await page.locator('.field__errors li').count(), 0);
  await page.getByRole('button', { name: 'Save flag' }).click();
  await page.getByText(/Saved as revision \d+/).waitFor();
  const stored = (await admin.call('GET', '/services/search')).body.doc.flags['semantic-search'];
  assert.deepEqual(stored.variants, { dark: false, off: false, on: true });
  assert.deepEqual(errors, []);
  await context.close();
});

test('an admin edits the schema: a change that breaks a stored value is named and cannot be saved', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = watchErrors(page);
  await login(page, server.url, 'admin', ADMIN_PASSWORD);
  await openSearchDev(page);
  await page.getByText('Schema', { exact: true }).click();
  const max = page.getByLabel('Max of throttle.rps');
  await max.fill('5000');
  await max.dispatchEvent('change');
  const warning = page.getByRole('status').filter({ hasText: 'Stored values this change would break' });
  await warning.getByText('values.prod["throttle.rps"]').waitFor();
  const save = page.getByRole('button', { name: 'Save schema' });
  assert.equal(await save.isDisabled(), true, 'a breaking schema cannot be saved');
  await screenshot(page, '23-schema-breaks-a-value');
  await max.fill('60000');
  await max.dispatchEvent('change');
  await warning.waitFor({ state: 'detached' });
  await page.getByLabel('New key').fill('results.highlight');
  await page.getByLabel('Its type').selectOption('bool');
  await page.getByRole('button', { name: 'Add key' }).click();
  await page.getByLabel('Description of results.highlight').fill('Highlight matched terms');
  await page.getByLabel('Description of results.highlight').dispatchEvent('change');
  await save.click();
  const outcome = page.locator('.schema > p[role="status"]');
  await outcome.filter({ hasText: /\S/ }).waitFor();
  assert.match(await outcome.textContent(), /Schema saved as revision \d+/);
  const schema = (await admin.call('GET', '/services/search')).body.doc.schema;
  assert.equal(schema['throttle.rps'].max, 60000);
  assert.deepEqual(schema['results.highlight'], { type: 'bool', default: false, description: 'Highlight matched terms' });
  assert.deepEqual(errors, []);
  await context.close();
});

test('editors and viewers get no schema editor', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await login(page, server.url, 'eddie', 'eddie-password-1');
  await openSearchDev(page);
  assert.equal(await page.getByText('Schema', { exact: true }).count(), 0);
  await context.close();
});

test('each page arrives when first shown: the login page loads the shell alone', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = watchErrors(page);
  const wasm = [];
  page.on('response', (response) => {
    const where = new URL(response.url()).pathname;
    if (where.endsWith('.wasm')) wasm.push({ where, file: where.split('/').pop(), status: response.status() });
  });
  const pageModules = () => wasm.filter(({ file }) => file.startsWith('split_')).map(({ file }) => file);

  await page.goto(server.url);
  await page.getByLabel('User name').waitFor();
  assert.deepEqual(wasm.map(({ file }) => file), ['setpoint-console_bg.wasm'], 'the login page needs the main module only');

  await login(page, server.url, 'admin', ADMIN_PASSWORD);
  await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
  assert.deepEqual(pageModules().map((file) => file.replace(/_\d+\.wasm$/, '')), ['split___overview_page_view']);

  // Hold the flags page's module: the shell says a page is loading, and the
  // page shows once the module arrives.
  let release;
  const held = new Promise((resolve) => { release = resolve; });
  await page.route(/split___flags_page_view_\d+\.wasm$/, async (route) => {
    await held;
    await route.continue();
  });
  await page.getByRole('link', { name: 'Flags' }).click();
  await page.getByRole('status').filter({ hasText: 'Loading page…' }).waitFor();
  await screenshot(page, '46-page-module-loading');
  release();
  await page.getByRole('heading', { name: 'Flags', level: 1 }).waitFor();
  await page.getByRole('status').filter({ hasText: 'Loading page…' }).waitFor({ state: 'detached' });
  assert.ok(pageModules().some((file) => file.startsWith('split___flags_page_view')), pageModules().join(', '));
  assert.ok(!pageModules().some((file) => file.startsWith('split___audit_page_view')), 'the audit page is not fetched before it is shown');
  // Back to a page already loaded: nothing is fetched again.
  const before = wasm.length;
  await page.getByRole('link', { name: 'Overview' }).click();
  await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
  assert.equal(wasm.length, before);
  assert.ok(wasm.every(({ status }) => status === 200), JSON.stringify(wasm));
  // Every module comes from the build's own directory, /pkg/<content hash>/.
  assert.ok(wasm.every(({ where }) => /^\/pkg\/[0-9a-f]{16}\/[^/]+$/.test(where)), JSON.stringify(wasm));
  assert.deepEqual(errors, []);
  await context.close();
});

test('a page module gone since the tab opened (an upgrade) stops the console with a note to reload', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await login(page, server.url, 'admin', ADMIN_PASSWORD);
  await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
  // As if Setpoint had been rebuilt meanwhile: ask the real server for the
  // audit page's module of a build it no longer has.
  await page.route(/split___audit_page_view_\d+\.wasm$/, (route) => route.continue({
    url: route.request().url().replace(/\/pkg\/[0-9a-f]{16}\//, '/pkg/0000000000000000/'),
  }));
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit' }).click();
  await page.getByRole('alert').filter({ hasText: 'Reload the page' }).waitFor();
  await screenshot(page, '47-console-stopped-reload');
  // Reloaded, the console works again and the audit page loads.
  await page.unrouteAll();
  await page.reload();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit' }).click();
  await page.getByRole('heading', { name: 'Audit', level: 1 }).waitFor();
  assert.equal(await page.getByRole('alert').filter({ hasText: 'Reload the page' }).count(), 0);
  await context.close();
});

test('a service managed by files says so, asks before an edit here, and the next plan reports the drift', async () => {
  const ledger = {
    service: 'ledger',
    schema: { limit: { type: 'int', default: 10, min: 1 } },
    values: { dev: { limit: 20 } },
  };
  const folder = { set: 'team-repo', source: 'git:0123456789ab', files: [{ file: 'payments/ledger.yaml', document: ledger }] };
  const applied = await admin.call('POST', '/apply', folder);
  assert.equal(applied.status, 200, JSON.stringify(applied.body));

  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = watchErrors(page);
  await login(page, server.url, 'admin', ADMIN_PASSWORD);
  await page.getByRole('link', { name: 'Services' }).click();
  await page.getByLabel('Search').fill('ledger');
  await page.getByText('1 service(s)').waitFor();
  await page.getByRole('row', { name: /ledger/ }).getByText('(files)').waitFor();
  await page.getByRole('link', { name: 'ledger', exact: true }).click();
  await page.locator('[data-managed]').filter({ hasText: 'Managed by files: payments/ledger.yaml in set team-repo, from git:0123456789ab.' }).waitFor();
  await page.getByRole('tab', { name: 'dev' }).click();
  await page.getByLabel('limit', { exact: true }).fill('30');
  await page.getByRole('button', { name: 'Review and save…' }).click();
  const review = page.getByRole('region', { name: 'Review changes' });
  await review.getByText(/managed by the file payments\/ledger\.yaml/).waitFor();
  const save = review.getByRole('button', { name: 'Save' });
  assert.equal(await save.isDisabled(), true, 'not before the drift is accepted');
  await screenshot(page, '40-managed-review');
  await review.getByLabel('Save here anyway').check();
  await save.click();
  await page.getByText(/Saved as revision \d+/).waitFor();
  await page.locator('[data-managed]').filter({ hasText: 'Changed here since' }).waitFor();
  await screenshot(page, '41-managed-drifted');

  const log = await admin.call('GET', '/changes?service=ledger&kind=values_changed');
  assert.match(log.body.changes[0].reason, /edited outside its file payments\/ledger\.yaml/);
  const plan = await admin.call('POST', '/apply', { ...folder, dry_run: true });
  assert.equal(plan.body.plan.change[0].conflict.reason, 'drifted', JSON.stringify(plan.body));
  const refused = await admin.call('POST', '/apply', folder);
  assert.equal(refused.status, 409);
  assert.deepEqual(errors, []);
  await context.close();
});
