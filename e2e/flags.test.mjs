// The flags overview, where the Flags page lands: a product manager (role
// `rollout`) sees every flag of the demo's services with what each serves
// per environment, narrows the list by search, owner, environment and
// "changed in the last 7 days", disables a flag in one environment with a
// reason and follows a row to the flag's own page; a viewer gets the same
// list with no switches. Real server with the demo data, the real release
// console, Debian's Chromium.
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
  for (const [username, role] of [['pam', 'rollout'], ['vic', 'viewer']]) {
    const created = await admin.call('POST', '/users', { username, password: `${username}-password-12`, role });
    assert.equal(created.status, 201, JSON.stringify(created.body));
  }
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** The overview's count line, once it says `n`. */
const counted = (page, n) => page.getByText(`${n} flag(s)`, { exact: true }).waitFor();

test('a product manager filters every flag across services and disables one in staging with a reason', async () => {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  const errors = watchErrors(page);
  await login(page, server.url, 'pam', 'pam-password-12');
  await page.getByRole('link', { name: 'Flags' }).click();
  await counted(page, 7);
  const table = page.getByRole('table', { name: 'Flags' });
  assert.deepEqual(
    await table.locator('thead th').allTextContents(),
    ['Flag', 'Service', 'Owners', 'dev', 'prod', 'staging', 'Last change'],
  );
  const row = (key) => table.getByRole('row').filter({ has: page.getByRole('rowheader', { name: key }) });
  // What each environment serves, as the demo's documents have it.
  assert.deepEqual(
    (await row('semantic-search').locator('td.flag-cell a').allTextContents()),
    ['on', 'on 10 %', 'on 50 %'],
  );
  assert.match(await row('autocomplete-source').textContent(), /legacy \(disabled\)/);
  assert.match(await row('digest-emails').locator('td').nth(2).textContent(), /off \(no targeting\)/);
  await screenshot(page, '54-flags-overview');

  await page.getByLabel('Search', { exact: true }).fill('SEMANTIC');
  await counted(page, 1);
  await page.getByLabel('Search', { exact: true }).fill('');
  await page.getByLabel('Owner', { exact: true }).selectOption('team-discovery');
  await counted(page, 3);
  await page.getByLabel('Targeted in').selectOption('dev');
  await counted(page, 1);
  assert.deepEqual(await table.locator('thead th').allTextContents(), ['Flag', 'Service', 'Owners', 'dev', 'Last change'],
    'one environment chosen: its column alone');
  await page.getByLabel('Targeted in').selectOption('');
  await page.getByLabel('Owner', { exact: true }).selectOption('');
  await page.getByLabel('Changed in the last 7 days').check();
  await counted(page, 0);
  await page.getByLabel('Changed in the last 7 days').uncheck();
  await counted(page, 7);

  // The switch asks why before anything is sent.
  await page.getByRole('button', { name: 'Disable semantic-search of search in staging' }).click();
  const confirm = page.getByRole('form', { name: 'Confirm the switch' });
  const disable = confirm.getByRole('button', { name: 'Disable', exact: true });
  assert.equal(await disable.isDisabled(), true, 'no reason yet');
  await confirm.getByLabel('Reason').fill('e2e: relevance regressions in staging');
  await disable.click();
  await page.getByText(/Disabled semantic-search of search in staging \(revision \d+\)/).waitFor();
  await row('semantic-search').getByText('off (disabled)').waitFor();
  const saved = (await admin.call('GET', '/services/search')).body.doc.flags['semantic-search'].environments;
  assert.equal(saved.staging.enabled, false);
  assert.equal(saved.prod.enabled, true, 'only staging moved');
  assert.deepEqual(saved.prod.default, { split: { weights: [{ variant: 'on', weight: 10 }, { variant: 'off', weight: 90 }] } });
  const log = await admin.call('GET', '/changes?service=search&item=semantic-search&limit=1');
  assert.equal(log.body.changes[0]?.actor, 'user:pam');
  assert.equal(log.body.changes[0]?.reason, 'e2e: relevance regressions in staging');

  await page.getByLabel('Changed in the last 7 days').check();
  await counted(page, 1);
  assert.match(await row('semantic-search').textContent(), /by user:pam/);
  await screenshot(page, '55-flag-disabled-from-overview');

  // A row leads to the flag's own page, and back.
  await row('semantic-search').getByRole('link', { name: 'off (disabled)' }).click();
  await page.getByRole('link', { name: 'All flags' }).waitFor();
  // The selects are filled as their lists arrive.
  await page.waitForFunction(() => document.getElementById('flag-service')?.value === 'search'
    && document.getElementById('flag-key')?.value === 'semantic-search'
    && document.getElementById('flag-environment')?.value === 'staging');
  await page.getByRole('link', { name: 'All flags' }).click();
  await counted(page, 7);
  assert.deepEqual(errors, []);
  await context.close();
});

test('a viewer sees the same overview with no switches, and the server refuses one anyway', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = watchErrors(page, [['/api/v1/me', 401], ['/flags/semantic-search', 403]]);
  await login(page, server.url, 'vic', 'vic-password-12');
  await page.getByRole('link', { name: 'Flags' }).click();
  await counted(page, 7);
  assert.equal(await page.getByRole('button', { name: /^(Enable|Disable) / }).count(), 0);
  assert.equal(await page.getByRole('form', { name: 'Start a new flag' }).count(), 0);
  const status = await page.evaluate(async () => {
    const me = await (await fetch('/api/v1/me')).json();
    const record = await (await fetch('/api/v1/services/search')).json();
    const flag = record.doc.flags['semantic-search'];
    flag.environments.prod.enabled = false;
    const answer = await fetch('/api/v1/services/search/flags/semantic-search', {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrf_token },
      body: JSON.stringify({ flag, base_revision: record.revision, reason: 'not mine to do' }),
    });
    return answer.status;
  });
  assert.equal(status, 403);
  assert.deepEqual(errors, []);
  await context.close();
});
