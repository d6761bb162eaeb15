// Progressive rollouts and scheduled changes from the console. A product
// manager (role `rollout`) writes a plan on the flag page, checked as typed
// by the core, starts it and watches it: the server's timer moves it to its
// next step, a guard breaker pulls it back and the timeline marks the
// guard event, and the manager resumes, pauses and aborts it, each with a
// reason. An admin schedules a flag change from the form, and it applies
// at its time while the page watches. Real server with the demo data (on
// the real clock: the plan's first step holds one second), the real release
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
  const created = await admin.call('POST', '/users', { username: 'pam', password: 'pam-password-1', role: 'rollout' });
  assert.equal(created.status, 201, JSON.stringify(created.body));
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const flagIn = async (environment) =>
  (await admin.call('GET', '/services/checkout')).body.doc.flags['new-checkout-flow'].environments[environment];

test('a product manager writes a plan, starts it and steers it through a guard halting it', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  const errors = watchErrors(page, [['/api/v1/me', 401], ['/rollout/resume', 409]]);
  await login(page, server.url, 'pam', 'pam-password-1');
  // The overview's rollouts link here the same way.
  await page.goto(`${server.url}/flags?service=checkout&flag=new-checkout-flow&environment=prod`);
  const section = page.getByRole('region', { name: 'Progressive rollout' });
  // Where the plan stands (the timeline repeats the same words per entry).
  const standing = (text) => section.locator('.rollout__state', { hasText: text }).waitFor();
  const editor = section.getByRole('region', { name: 'New rollout plan' });
  assert.equal(await editor.getByLabel('Variant to roll out').inputValue(), 'on', 'the variant prod does not serve yet');

  // Five steps offered; this plan has three, the first held one second.
  await editor.getByLabel('Share of step 1 (%)').fill('5');
  await editor.getByLabel('Hold of step 1').fill('1s');
  await editor.getByLabel('Share of step 2 (%)').fill('25');
  await editor.getByRole('button', { name: 'Remove step 3' }).click();
  await editor.getByRole('button', { name: 'Remove step 3' }).click();
  await editor.getByLabel('Hold of step 3').fill('1h');
  const start = editor.getByRole('button', { name: 'Start rollout' });

  // The core's check, as typed: shares must rise; alert matchers must parse.
  await editor.getByLabel('Share of step 2 (%)').fill('2');
  await editor.getByText('shares rise from step to step').waitFor();
  assert.equal(await start.isDisabled(), true, 'an invalid plan is not sent');
  await editor.getByLabel('Share of step 2 (%)').fill('25');
  await editor.getByRole('button', { name: 'Add an alert guard' }).click();
  const matchers = editor.getByLabel('Alert matchers of guard 1 (one per line)');
  await matchers.fill('alertname=~"(Checkout"');
  await editor.locator('.problems__path', { hasText: 'plan.guards[0].alert[0]' }).waitFor();
  assert.equal(await start.isDisabled(), true);
  await matchers.fill('alertname="CheckoutErrors"\nservice="checkout"');
  await editor.getByRole('button', { name: 'Add a breaker guard' }).click();
  assert.equal(await editor.getByLabel('Breaker of guard 2').inputValue(), 'payments-provider');
  await editor.getByText('Everyone outside the plan\'s share keeps off; the share gets on.').waitFor();
  await editor.getByLabel('Reason').fill('e2e: new checkout, 5 % first');
  await screenshot(page, '43-rollout-plan-editor');
  await start.click();

  // Started; the timer moves it on once the first step has held.
  await standing('running at 25 % (step 2 of 3)');
  const timeline = section.getByRole('list', { name: 'Rollout timeline' });
  await timeline.getByText('step 1 (5 %) held 1s').waitFor();
  await timeline.getByText('e2e: new checkout, 5 % first').waitFor();
  const steps = section.getByRole('list', { name: 'Steps' });
  assert.deepEqual(
    await steps.locator('li').evaluateAll((items) => items.map((i) => i.dataset.state)),
    ['held', 'current', 'pending'],
  );
  const started = await flagIn('prod');
  assert.deepEqual(started.default.split.weights, [{ variant: 'on', weight: 25 }, { variant: 'off', weight: 75 }]);

  // A guard breaker opens: back to the step that held, marked in the timeline.
  const tripped = await admin.call(
    'POST',
    '/services/checkout/breakers/payments-provider/environments/prod/trip',
    { reason: 'e2e: provider down' },
  );
  assert.equal(tripped.status, 200, JSON.stringify(tripped.body));
  await standing('halted at 5 % (step 2 of 3)');
  await timeline.locator('.timeline__event--guard', { hasText: 'halted at 5 %' }).waitFor();
  await section.getByText('breaker payments-provider opened').first().waitFor();
  await screenshot(page, '44-rollout-halted');

  // Resuming is refused while the breaker stays open; closed, it goes on.
  const steer = section.getByRole('region', { name: 'Steer the rollout' });
  await steer.getByLabel('Reason').fill('e2e: try again');
  await steer.getByRole('button', { name: 'Resume' }).click();
  await section.locator('.status--error', { hasText: 'guards still fire (' }).waitFor();
  const closed = await admin.call(
    'POST',
    '/services/checkout/breakers/payments-provider/environments/prod/close',
    { reason: 'e2e: provider back' },
  );
  assert.equal(closed.status, 200, JSON.stringify(closed.body));
  await steer.getByRole('button', { name: 'Resume' }).click();
  await standing('running at 25 % (step 2 of 3)');

  await steer.getByLabel('Reason').fill('e2e: hold on');
  await steer.getByRole('button', { name: 'Pause' }).click();
  await standing('paused at 25 % (step 2 of 3)');
  await steer.getByLabel('Reason').fill('e2e: not this week');
  await steer.getByRole('button', { name: 'Abort' }).click();
  await standing('aborted at 0 % (step 2 of 3)');
  await editor.waitFor();
  await screenshot(page, '45-rollout-timeline');

  assert.deepEqual((await flagIn('prod')).default, { variant: 'off' }, 'aborted: everyone is back on off');
  const log = await admin.call('GET', '/changes?service=checkout&item=new-checkout-flow&kind=rollout_transition&limit=20');
  for (const reason of ['e2e: new checkout, 5 % first', 'e2e: try again', 'e2e: hold on', 'e2e: not this week']) {
    const entry = log.body.changes.find((c) => c.reason === reason);
    assert.equal(entry?.actor, 'user:pam', `${reason} in ${JSON.stringify(log.body.changes.map((c) => c.reason))}`);
  }
  assert.deepEqual(errors, []);
  await context.close();
});

test('a flag change scheduled from the form applies at its time, and the page shows it', async () => {
  assert.equal((await flagIn('staging')).enabled, true);
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 }, timezoneId: 'UTC' });
  const page = await context.newPage();
  const errors = watchErrors(page);
  await login(page, server.url, 'admin', ADMIN_PASSWORD);
  await page.goto(`${server.url}/flags?service=checkout&flag=new-checkout-flow&environment=staging`);
  const toggle = page.getByRole('switch');
  await toggle.uncheck();
  // Far enough ahead to be in the future when the button is pressed on a
  // slow machine; the page reads it in the browser's zone, UTC here.
  const at = new Date(Date.now() + 8_000).toISOString().slice(0, 19);
  await page.locator('#flag-apply-at').fill(at);
  await page.locator('#flag-reason').fill('e2e: off for the migration');
  await page.getByRole('button', { name: 'Schedule flag change' }).click();
  await page.getByText(`it applies at ${at}.000Z`).waitFor();
  assert.equal((await flagIn('staging')).enabled, true, 'nothing changes before its time');
  // The form goes back to what is saved.
  await page.getByText('Enabled', { exact: true }).waitFor();

  // The server's timer applies it; the page follows the change stream.
  await page.getByText('Disabled', { exact: true }).waitFor({ timeout: 30_000 });
  assert.equal((await flagIn('staging')).enabled, false);
  const log = await admin.call('GET', '/changes?service=checkout&item=new-checkout-flow&limit=1');
  const applied = log.body.changes[0];
  assert.equal(applied.actor, 'scheduler');
  assert.match(applied.reason, /scheduled by user:admin/);
  assert.deepEqual(errors, []);
  await context.close();
});
