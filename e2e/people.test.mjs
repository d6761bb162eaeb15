// People and machines from the console: an admin creates a user, changes
// their role (which ends their session), resets their password and
// deletes them; creates a token, copies it, uses it with curl, revokes it
// in the console, and curl is refused. A viewer and an editor see no
// People page, and the server refuses them anyway. Real server with the
// demo data, the real release console, Debian's Chromium, real curl.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
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
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** `curl -s -o /dev/null -w %{http_code}` with a bearer token. */
const curlStatus = (token, path) => Number(execFileSync('curl', [
  '-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', `Authorization: Bearer ${token}`, `${server.url}/api/v1${path}`,
]).toString());

test('an admin manages a user: created, given another role (their session ends), password reset, deleted', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  // The weak password below is refused with a 400, on purpose.
  const errors = watchErrors(page, [['/api/v1/me', 401], ['/api/v1/users', 400]]);
  await login(page, server.url, 'admin', ADMIN_PASSWORD);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'People' }).click();
  const form = page.getByRole('form', { name: 'New user' });
  await form.getByLabel('User name').fill('nora');
  await form.getByLabel('Password (12 characters or more)').fill('short');
  await form.getByLabel('Role').selectOption('editor');
  await form.getByRole('button', { name: 'Create user' }).click();
  await page.getByText('a password needs at least 12 characters').waitFor();
  await form.getByLabel('Password (12 characters or more)').fill('nora-password-1');
  await form.getByRole('button', { name: 'Create user' }).click();
  await page.getByText('User nora created as editor.').waitFor();

  // Nora logs in elsewhere; her new role ends that session.
  const nora = await apiSession(server.url, 'nora', 'nora-password-1');
  assert.equal((await nora.call('GET', '/me')).body.role, 'editor');
  const row = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: 'nora' }) });
  await row.getByLabel('Role of nora').selectOption('viewer');
  await row.getByLabel('Services of nora').fill('checkout, search');
  await screenshot(page, '48-people');
  await row.getByRole('button', { name: 'Save' }).click();
  await page.getByText('nora is now viewer for checkout, search; their sessions ended.').waitFor();
  assert.equal((await nora.call('GET', '/me')).status, 401, 'the old session ended');
  const again = await apiSession(server.url, 'nora', 'nora-password-1');
  const me = (await again.call('GET', '/me')).body;
  assert.deepEqual([me.role, me.services], ['viewer', ['checkout', 'search']]);

  const fresh = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: 'nora' }) });
  await fresh.getByRole('button', { name: 'Reset password', exact: true }).click();
  await fresh.getByLabel('New password of nora').fill('nora-password-2');
  await fresh.getByRole('button', { name: 'Set password', exact: true }).click();
  await page.getByText('nora\'s password is reset; their sessions ended.').waitFor();
  await assert.rejects(apiSession(server.url, 'nora', 'nora-password-1'), /401/);
  await apiSession(server.url, 'nora', 'nora-password-2');

  // An admin cannot demote or delete themselves from here.
  const own = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: 'admin (you)' }) });
  assert.equal(await own.getByLabel('Role of admin').isDisabled(), true);
  assert.equal(await own.getByRole('button', { name: 'Delete' }).count(), 0);

  const last = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: 'nora' }) });
  await last.getByRole('button', { name: 'Delete' }).click();
  await last.getByRole('button', { name: 'Confirm: delete nora' }).click();
  await page.getByText('User nora deleted.').waitFor();
  await page.getByRole('rowheader', { name: 'nora' }).waitFor({ state: 'detached' });
  const log = await admin.call('GET', '/changes?kind=user_deleted&limit=1');
  assert.equal(log.body.changes[0]?.item, 'nora');
  assert.deepEqual(errors, []);
  await context.close();
});

test('a token made in the console works with curl, and once revoked in the console curl is refused', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
  const page = await context.newPage();
  const errors = watchErrors(page);
  await login(page, server.url, 'admin', ADMIN_PASSWORD);
  await page.goto(`${server.url}/people`);
  const form = page.getByRole('form', { name: 'New token' });
  await form.getByLabel('Token name').fill('deploy-bot');
  await form.getByLabel('Role').selectOption('viewer');
  await form.getByLabel('Services (comma-separated; empty for all)').fill('checkout');
  await form.getByLabel('Environment').selectOption('prod');
  await form.getByRole('button', { name: 'Create token' }).click();
  const shown = page.getByRole('region', { name: 'New token' });
  const bearer = await shown.getByLabel('Bearer token').inputValue();
  assert.match(bearer, /^sp_[0-9a-f]+_/);
  await shown.getByRole('button', { name: 'Copy' }).click();
  await shown.getByText('Copied.').waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), bearer);
  await screenshot(page, '49-token-created');

  // The token reads what its scope allows, and nothing else.
  assert.equal(curlStatus(bearer, '/services/checkout'), 200);
  assert.equal(curlStatus(bearer, '/services/search'), 403, 'outside its services');

  const row = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: 'deploy-bot' }) });
  assert.match(await row.textContent(), /viewer.*checkout.*prod/);
  await row.getByRole('button', { name: 'Revoke' }).click();
  await row.getByRole('button', { name: 'Confirm: revoke deploy-bot' }).click();
  await page.getByText('Token deploy-bot revoked.').waitFor();
  assert.equal(curlStatus(bearer, '/services/checkout'), 401, 'revoked');
  assert.deepEqual(errors, []);
  await context.close();
});

test('viewers and editors see no People page, and the server refuses them', async () => {
  for (const [username, role] of [['vera', 'viewer'], ['ed', 'editor']]) {
    const created = await admin.call('POST', '/users', { username, password: `${username}-password-1`, role });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const context = await browser.newContext();
    const page = await context.newPage();
    await login(page, server.url, username, `${username}-password-1`);
    assert.equal(await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'People' }).count(), 0);
    await page.goto(`${server.url}/people`);
    await page.getByText('Only admins of every service manage people and tokens.').waitFor();
    const session = await apiSession(server.url, username, `${username}-password-1`);
    for (const [method, path, body] of [
      ['GET', '/users'],
      ['GET', '/tokens'],
      ['POST', '/tokens', { name: 'sneaky', role: 'admin' }],
      ['PATCH', '/users/admin', { role: 'viewer' }],
    ]) {
      assert.equal((await session.call(method, path, body)).status, 403, `${username}: ${method} ${path}`);
    }
    await context.close();
  }
});
