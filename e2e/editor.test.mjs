// The document editor end to end: real server, real release console, real
// Chromium. Validation happens in the browser (wasm core) without requests;
// the server, asked, agrees.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_PASSWORD, launchBrowser, login, screenshot, startServer, watchErrors } from './harness.mjs';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('an invalid document shows its error at the field, fixing it clears it', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const pageErrors = watchErrors(page);
  const validateRequests = [];
  page.on('request', (request) => {
    if (request.url().includes('/api/v1/validate')) validateRequests.push(request.url());
  });

  await login(page, `${server.url}/editor`, 'admin', ADMIN_PASSWORD);
  const status = page.locator('#document-status');
  await assert.doesNotReject(status.filter({ hasText: 'Valid: checkout' }).waitFor());
  await screenshot(page, '01-editor-valid');

  const editor = page.locator('#document');
  const valid = await editor.inputValue();
  const invalid = valid.replace('"throttle.rps": 2000', '"throttle.rps": 0');
  assert.notEqual(invalid, valid);
  await editor.fill(invalid);
  await status.filter({ hasText: '1 problem' }).waitFor();
  const problem = page.locator('.problems__item');
  assert.equal(await problem.count(), 1);
  assert.equal(await problem.locator('.problems__path').textContent(), 'values.prod["throttle.rps"]');
  assert.match(await problem.locator('.problems__message').textContent(), /below the minimum 1/);
  assert.equal(await page.getByRole('button', { name: 'Check on server' }).isDisabled(), true);
  await screenshot(page, '02-editor-invalid');

  await editor.fill(valid);
  await status.filter({ hasText: 'Valid: checkout' }).waitFor();
  assert.equal(await page.locator('.problems__item').count(), 0);
  await screenshot(page, '03-editor-fixed');
  assert.deepEqual(validateRequests, [], 'validation while typing sends no request');

  await page.getByRole('button', { name: 'Check on server' }).click();
  await page.locator('.server-verdict').filter({ hasText: 'The server agrees: checkout is valid.' }).waitFor();
  assert.equal(validateRequests.length, 1);
  await screenshot(page, '04-editor-server-agrees');

  assert.deepEqual(pageErrors, [], 'no errors in the browser console');
  await context.close();
});

test('the console shell navigates with client routes and survives a reload', async () => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  await login(page, `${server.url}/`, 'admin', ADMIN_PASSWORD);
  await page.getByRole('heading', { name: 'Latest changes' }).waitFor();
  await page.getByRole('link', { name: 'Flags' }).click();
  await page.getByRole('heading', { name: 'Flags' }).waitFor();
  assert.equal(new URL(page.url()).pathname, '/flags');
  await page.reload();
  await page.getByRole('heading', { name: 'Flags' }).waitFor();
  await screenshot(page, '05-shell-narrow');
  await context.close();
});
