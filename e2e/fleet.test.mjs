// The fleet page with a real `setpoint agent` (writing to a directory):
// the cluster shows in sync; while the agent is paused (SIGSTOP) a change
// makes it behind, live; resumed, it catches up and shows in sync again.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  ADMIN_PASSWORD, apiSession, launchBrowser, login, screenshot, startServer, watchErrors,
} from './harness.mjs';

let server;
let browser;
let admin;
let agent;
let files;

before(async () => {
  server = await startServer({ demo: true });
  admin = await apiSession(server.url, 'admin', ADMIN_PASSWORD);
  const token = await admin.call('POST', '/tokens', { name: 'agent-eu-1', role: 'agent', environment: 'prod' });
  assert.equal(token.status, 201, JSON.stringify(token.body));
  files = mkdtempSync(path.join(tmpdir(), 'setpoint-agent-'));
  const bin = process.env.SETPOINT_BIN ?? path.resolve(import.meta.dirname, '..', 'target', 'debug', 'setpoint');
  agent = spawn(bin, [
    'agent', '--server', server.url, '--token', token.body.token, '--environment', 'prod',
    '--cluster', 'eu-1', '--namespace', 'payments', '--file', files, '--heartbeat', '5s',
  ], { stdio: 'ignore' });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  if (agent) {
    agent.kill('SIGCONT');
    agent.kill('SIGTERM');
  }
  await server?.stop();
  if (files) rmSync(files, { recursive: true, force: true });
});

/** Waits until eu-1's row shows `state`; on a timeout, fails with what the
 *  server's fleet view held then, so a slow or lost agent can be told apart
 *  from a page that did not update. */
async function waitForState(page, state) {
  try {
    await page.waitForFunction(
      (want) => document.querySelector('tr.fleet__cluster[data-cluster="eu-1"]')?.dataset.state === want,
      state, { timeout: 30_000 },
    );
  } catch (error) {
    const fleet = await admin.call('GET', '/fleet');
    const shown = await page.locator('tr.fleet__cluster[data-cluster="eu-1"]').getAttribute('data-state').catch(() => null);
    throw new Error(`eu-1 not ${state} in 30 s (page shows ${shown}); the server's fleet: ${JSON.stringify(fleet.body)}`, { cause: error });
  }
}

/** Sets prod's throttle on checkout through the API. */
async function setThrottle(rps) {
  const service = await admin.call('GET', '/services/checkout');
  const answer = await admin.call('PATCH', '/services/checkout/values/prod', {
    set: { 'throttle.rps': rps }, base_revision: service.body.revision,
  });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
}

test('the fleet page shows a cluster fall behind and catch up, live', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = watchErrors(page);
  await login(page, server.url, 'admin', ADMIN_PASSWORD);
  await page.getByRole('link', { name: 'Fleet' }).click();
  const row = page.locator('tr.fleet__cluster[data-cluster="eu-1"]');
  await waitForState(page, 'in_sync');
  assert.match(await row.textContent(), /payments/);
  await screenshot(page, '50-fleet-in-sync');
  let navigations = 0;
  page.on('framenavigated', () => { navigations += 1; });

  agent.kill('SIGSTOP');
  await setThrottle(4321);
  await waitForState(page, 'behind');
  assert.match(await row.textContent(), /\d+ revisions?/);
  await screenshot(page, '51-fleet-behind');

  agent.kill('SIGCONT');
  await waitForState(page, 'in_sync');
  const written = JSON.parse(readFileSync(path.join(files, 'prod', 'services', 'checkout.json'), 'utf8'));
  assert.equal(written.services.checkout.config['throttle.rps'], 4321);
  assert.equal(navigations, 0, 'no reload');

  // The overview counts the environment's clusters not in sync.
  await page.getByRole('link', { name: 'Overview' }).click();
  await page.getByRole('link', { name: '0 of 1 cluster not in sync' }).waitFor();
  assert.deepEqual(errors, []);
  await context.close();
});
