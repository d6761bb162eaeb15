// Breakers end to end with a real Alertmanager: alerts posted to
// Alertmanager reach Setpoint through its webhook and move a breaker that an
// operator watches on the console's board, live, without reloading; an
// operator defines a new breaker, previewing which of the alerts received
// lately its matchers would catch, then edits and deletes it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ADMIN_PASSWORD, apiSession, launchBrowser, login, screenshot, startServer, watchErrors,
} from './harness.mjs';
import { startAlertmanager } from './alertmanager.mjs';

let server;
let browser;
let alertmanager;
let admin;

const OPERATOR = ['olga', 'olga-password-1'];
const VIEWER = ['vic', 'vic-password-12'];

before(async () => {
  server = await startServer({ demo: true });
  admin = await apiSession(server.url, 'admin', ADMIN_PASSWORD);
  const token = await admin.call('POST', '/tokens', { name: 'alertmanager', role: 'alert_source' });
  assert.equal(token.status, 201, JSON.stringify(token.body));
  for (const [[username, password], role] of [[OPERATOR, 'operator'], [VIEWER, 'viewer']]) {
    const created = await admin.call('POST', '/users', { username, password, role });
    assert.equal(created.status, 201, JSON.stringify(created.body));
  }
  alertmanager = await startAlertmanager(server.url, token.body.token);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await alertmanager?.stop();
  await server?.stop();
});

/** An alert as Prometheus posts it to Alertmanager. */
function stripeAlert(instance, startsAt, endsAt) {
  return {
    labels: { alertname: 'ProviderErrorRate', provider: 'stripe', environment: 'prod', instance, severity: 'page' },
    annotations: { summary: `Stripe errors above 5% on ${instance}`, runbook_url: 'https://runbooks.example/stripe' },
    startsAt,
    ...(endsAt ? { endsAt } : {}),
    generatorURL: 'http://prometheus.example:9090/graph?g0.expr=provider_error_rate',
  };
}

/** The stripe breaker in prod, through the API. */
async function stripe() {
  const board = await admin.call('GET', '/environments/prod/breakers');
  assert.equal(board.status, 200);
  return board.body.find((b) => b.service === 'payments-gateway' && b.breaker === 'stripe');
}

/** Polls `check` until it returns something truthy (Alertmanager batches
 *  deliveries by its group interval). */
async function eventually(what, check, timeout = 60_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

test('an alert opens the breaker live on the board; resolved, it awaits the operator, who closes it', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = watchErrors(page);
  await login(page, server.url, ...OPERATOR);
  await page.getByRole('link', { name: 'Breakers' }).click();
  const card = page.getByRole('article', { name: 'payments-gateway / stripe' });
  await card.waitFor();
  assert.equal(await card.getAttribute('data-state'), 'closed');
  await screenshot(page, '40-breakers-board');
  let navigations = 0;
  page.on('framenavigated', () => { navigations += 1; });

  const startsAt = new Date(Date.now() - 60_000).toISOString();
  await alertmanager.post([stripeAlert('api-1', startsAt)]);
  // The board turns red on its own: no reload, no click.
  await page.locator('article[aria-label="payments-gateway / stripe"][data-state="open"]').waitFor({ timeout: 60_000 });
  await card.getByText('Stripe errors above 5% on api-1').waitFor();
  assert.equal(await card.getByRole('link', { name: 'source' }).first().getAttribute('href'),
    'http://prometheus.example:9090/graph?g0.expr=provider_error_rate');
  const opened = await stripe();
  assert.equal(opened.state, 'open');
  assert.equal(opened.cause.by, 'alert');
  assert.equal(opened.cause.alert.labels.instance, 'api-1');
  await screenshot(page, '41-breaker-opened-by-alertmanager');

  // Resolved: endsAt in the past. Alertmanager sends it (send_resolved).
  await alertmanager.post([stripeAlert('api-1', startsAt, new Date(Date.now() - 1_000).toISOString())]);
  await page.locator('article[aria-label="payments-gateway / stripe"][data-state="awaiting_close"]').waitFor({ timeout: 60_000 });
  assert.equal((await stripe()).state, 'awaiting_close');
  const queue = page.getByRole('region', { name: 'Awaiting your confirmation' });
  await queue.getByText('payments-gateway / stripe').waitFor();
  await screenshot(page, '42-breaker-awaiting-confirmation');

  await queue.getByRole('button', { name: 'Confirm close…' }).click();
  const confirm = queue.getByRole('button', { name: 'Close breaker' });
  assert.equal(await confirm.isDisabled(), true, 'a reason is required');
  await queue.getByLabel('Reason (required)').fill('Stripe recovered; error rate back to 0.1%');
  await confirm.click();
  await page.locator('article[aria-label="payments-gateway / stripe"][data-state="closed"]').waitFor();
  assert.equal((await stripe()).state, 'closed');
  assert.equal(navigations, 0, 'the page never reloaded');

  const log = await admin.call('GET', '/changes?service=payments-gateway&item=stripe&kind=breaker_transition');
  const stripeLog = log.body.changes;
  assert.deepEqual(stripeLog.map((c) => c.after.state), ['closed', 'awaiting_close', 'open']);
  assert.equal(stripeLog[0].actor, `user:${OPERATOR[0]}`);
  assert.match(stripeLog[2].actor, /^alert:[0-9a-f]+$/, 'the alert fingerprint is the actor');
  await card.getByText('Timeline').click();
  await card.getByText('Stripe recovered; error rate back to 0.1%').waitFor();
  await screenshot(page, '43-breaker-closed-with-timeline');
  assert.deepEqual(errors, []);
  await context.close();
});

test('a second matching alert still firing keeps the breaker open when the first resolves', async () => {
  const first = new Date(Date.now() - 30_000).toISOString();
  const second = new Date(Date.now() - 20_000).toISOString();
  await alertmanager.post([stripeAlert('api-2', first), stripeAlert('api-3', second)]);
  const firing = async () => (await stripe()).firing.map((a) => a.labels.instance).sort().join(',');
  await eventually('both alerts to fire', async () => (await firing()) === 'api-2,api-3');
  assert.equal((await stripe()).state, 'open');
  await alertmanager.post([stripeAlert('api-2', first, new Date(Date.now() - 1_000).toISOString())]);
  await eventually('the first alert to resolve', async () => (await firing()) === 'api-3');
  assert.equal((await stripe()).state, 'open', 'api-3 still fires');

  // Closing over a firing alert needs force; the console offers only that.
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  const errors = watchErrors(page);
  await login(page, server.url, ...OPERATOR);
  await page.getByRole('link', { name: 'Breakers' }).click();
  const card = page.getByRole('article', { name: 'payments-gateway / stripe' });
  await card.getByText('Still firing').waitFor();
  assert.equal(await card.getByRole('button', { name: 'Close…', exact: true }).count(), 0);
  await card.getByRole('button', { name: 'Force close…' }).waitFor();
  await screenshot(page, '44-breaker-still-open-mobile');

  // A breaker tripped through the API by someone else turns red on this
  // open board, without a reload.
  const models = page.getByRole('article', { name: 'recommendations / model-server' });
  assert.equal(await models.getAttribute('data-state'), 'closed');
  const tripped = await admin.call('POST', '/services/recommendations/breakers/model-server/environments/prod/trip',
    { reason: 'model server returns garbage' });
  assert.equal(tripped.status, 200, JSON.stringify(tripped.body));
  await page.locator('article[aria-label="recommendations / model-server"][data-state="open"]').waitFor();
  await models.getByText('model server returns garbage').waitFor();
  assert.deepEqual(errors, []);
  await context.close();
});

test('an operator defines a breaker against the alerts received lately, edits it and deletes it', async () => {
  // One alert no breaker claims, and one the stripe breaker does.
  await alertmanager.post([
    { labels: { alertname: 'CheckoutLatencyHigh', service: 'checkout', environment: 'prod', severity: 'page' }, startsAt: new Date().toISOString() },
    stripeAlert('api-7', new Date(Date.now() - 5_000).toISOString()),
  ]);
  await eventually('the unrouted alert', async () => (await admin.call('GET', '/alerts/unrouted')).body
    .some((u) => u.alert.labels.alertname === 'CheckoutLatencyHigh'));
  await eventually('the stripe alert to fire', async () => (await stripe()).firing.some((a) => a.labels.instance === 'api-7'));

  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  const errors = watchErrors(page);
  await login(page, server.url, ...OPERATOR);
  await page.getByRole('link', { name: 'Breakers' }).click();
  const definitions = page.getByRole('region', { name: 'Breaker definitions' });
  await definitions.getByLabel('Breakers of service').selectOption('checkout');
  await definitions.getByRole('row').filter({ hasText: 'payments-provider' }).waitFor();
  await definitions.getByRole('button', { name: 'New breaker' }).click();
  const form = page.getByRole('form', { name: 'New breaker' });
  const preview = form.getByRole('region', { name: 'Alerts it would catch' });
  const save = form.getByRole('button', { name: 'Save breaker' });
  await form.getByLabel('Name', { exact: true }).fill('latency');
  await form.getByLabel('What opening it does').fill('Serve the cached checkout page');
  await form.getByLabel('Set 1', { exact: true }).fill('alertname~~CheckoutLatencyHigh');
  // The core's check, as typed: nothing can be sent.
  await form.locator('.problems__path', { hasText: 'trips_on[0][0]' }).waitFor();
  await form.getByLabel('Reason', { exact: true }).fill('e2e: latency guard');
  assert.equal(await save.isDisabled(), true);
  await form.getByLabel('Set 1', { exact: true }).fill('alertname=CheckoutLatencyHigh');
  await preview.getByText(/Would have caught 1 of the \d+ alerts/).waitFor();
  await preview.getByRole('row').filter({ hasText: 'CheckoutLatencyHigh' }).filter({ hasText: 'matched no breaker' }).waitFor();
  await form.getByRole('button', { name: 'Add a set' }).click();
  await form.getByLabel('Set 2', { exact: true }).fill('provider=stripe\ninstance=api-7');
  await preview.getByText(/Would have caught 2 of the \d+ alerts/).waitFor();
  await preview.getByRole('row').filter({ hasText: 'instance=api-7' }).filter({ hasText: 'payments-gateway/stripe in prod' }).waitFor();
  // Both alerts name prod: a breaker only in staging would catch neither.
  await form.getByRole('checkbox', { name: 'staging' }).check();
  await preview.getByText(/Would have caught 0 of the/).waitFor();
  await form.getByRole('checkbox', { name: 'staging' }).uncheck();
  await form.getByRole('button', { name: 'Remove set 2' }).click();
  await preview.getByText(/Would have caught 1 of the/).waitFor();
  await screenshot(page, '56-breaker-definition-preview');
  await save.click();
  await definitions.getByText(/Saved breaker latency \(revision \d+\)/).waitFor();
  let doc = (await admin.call('GET', '/services/checkout')).body.doc;
  assert.deepEqual(doc.breakers.latency, {
    description: 'Serve the cached checkout page',
    environments: [],
    trips_on: [['alertname=CheckoutLatencyHigh']],
    close: 'manual',
  });

  await definitions.getByRole('button', { name: 'Edit latency' }).click();
  const edit = page.getByRole('form', { name: 'Breaker latency' });
  await edit.getByLabel('Closes by itself after').fill('10m');
  await edit.getByLabel('Reason', { exact: true }).fill('e2e: close by itself');
  await edit.getByRole('button', { name: 'Save breaker' }).click();
  await definitions.getByText(/Saved breaker latency/).waitFor();
  await eventually('the edit', async () => (await admin.call('GET', '/services/checkout')).body.doc.breakers.latency?.close?.auto_after === '10m');

  const row = definitions.getByRole('row').filter({ hasText: 'latency' });
  await row.getByRole('button', { name: 'Delete…' }).click();
  await row.getByLabel('Reason').fill('e2e: not needed after all');
  await row.getByRole('button', { name: 'Delete', exact: true }).click();
  await definitions.getByText(/Deleted breaker latency/).waitFor();
  doc = (await admin.call('GET', '/services/checkout')).body.doc;
  assert.equal(doc.breakers.latency, undefined);
  const log = await admin.call('GET', '/changes?service=checkout&item=latency&kind=breaker_defined&limit=3');
  assert.deepEqual(log.body.changes.map((c) => [c.actor, c.reason]), [
    ['user:olga', 'e2e: not needed after all'],
    ['user:olga', 'e2e: close by itself'],
    ['user:olga', 'e2e: latency guard'],
  ]);
  assert.deepEqual(errors, []);
  await context.close();

  // A viewer gets the board without the definitions, and the server refuses one.
  const viewing = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const viewer = await viewing.newPage();
  const viewerErrors = watchErrors(viewer, [['/api/v1/me', 401], ['/breakers/latency', 403]]);
  await login(viewer, server.url, ...VIEWER);
  await viewer.getByRole('link', { name: 'Breakers' }).click();
  await viewer.getByRole('article', { name: 'payments-gateway / stripe' }).waitFor();
  assert.equal(await viewer.getByRole('region', { name: 'Breaker definitions' }).count(), 0);
  const status = await viewer.evaluate(async () => {
    const me = await (await fetch('/api/v1/me')).json();
    const answer = await fetch('/api/v1/services/checkout/breakers/latency', {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrf_token },
      body: JSON.stringify({ breaker: { trips_on: [['alertname=X']] }, reason: 'not mine to do' }),
    });
    return answer.status;
  });
  assert.equal(status, 403);
  assert.deepEqual(viewerErrors, []);
  await viewing.close();
});
