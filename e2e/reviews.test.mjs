// Change control end to end: an admin sets staging's policy in the console
// (one approval, a reason); an editor's save there becomes "Submit for
// review" and is held; another editor finds it behind the navigation's
// badge, reads its diff and approves it, and the change applies. A rollout
// started through the API shows on the overview and halts live when its
// guard breaker trips. Real server with the demo data, the real release
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
  for (const username of ['eddie', 'rita']) {
    const created = await admin.call('POST', '/users', { username, password: `${username}-password-1`, role: 'editor' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
  }
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('an admin sets a policy in the console, checked as typed; an editor has no policy editor', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = watchErrors(page);
  await login(page, server.url, 'admin', ADMIN_PASSWORD);
  await page.getByRole('link', { name: 'Reviews' }).click();
  const form = page.getByRole('form', { name: 'Policy of staging' });
  const save = form.getByRole('button', { name: 'Save policy' });
  assert.equal(await save.isDisabled(), true, 'nothing to save yet');

  // The core's check runs as the admin types: too many approvals, a freeze
  // that ends before it starts.
  await form.getByLabel('Approvals required').fill('9');
  await form.getByText('at most 5 approvals').waitFor();
  await form.getByRole('button', { name: 'Add a freeze window' }).click();
  await form.getByLabel('Start of freeze 1 in staging').fill('2027-01-04T00:00:00Z');
  await form.getByLabel('End of freeze 1 in staging').fill('2026-12-20T00:00:00Z');
  await form.getByText('a freeze must end after it starts').waitFor();
  assert.equal(await save.isDisabled(), true, 'an invalid policy is not sent');

  await form.getByRole('button', { name: 'Remove' }).click();
  await form.getByLabel('Approvals required').fill('1');
  await form.getByLabel('Every change needs a reason').check();
  await form.getByLabel('Reason', { exact: true }).fill('e2e: four-eyes in staging');
  await screenshot(page, '39-environment-policy');
  await save.click();
  await form.getByText(/Policy saved as revision \d+\./).waitFor();
  const environments = await admin.call('GET', '/environments');
  const staging = environments.body.find((e) => e.name === 'staging');
  assert.deepEqual(staging.policy, { approvals_required: 1, reason_required: true });
  const log = await admin.call('GET', '/changes?kind=environment_policy_set&limit=1');
  assert.equal(log.body.changes[0]?.reason, 'e2e: four-eyes in staging', JSON.stringify(log.body));
  assert.deepEqual(errors, []);
  await context.close();

  const editorContext = await browser.newContext();
  const editor = await editorContext.newPage();
  await login(editor, server.url, 'rita', 'rita-password-1');
  await editor.getByRole('link', { name: 'Reviews' }).click();
  await editor.getByText('Nothing awaits your review.').waitFor();
  assert.equal(await editor.getByRole('heading', { name: 'Environment policies' }).count(), 0);
  await editorContext.close();
});

const stagingRps = async () =>
  (await admin.call('GET', '/services/search')).body.doc.values.staging?.['throttle.rps'];

test('an editor submits for review, the author cannot approve, another editor approves and it applies', async () => {
  const before = await stagingRps();
  assert.notEqual(before, 4321);

  // The author: the save becomes a submission, and nothing changes yet.
  const authorContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const author = await authorContext.newPage();
  const authorErrors = watchErrors(author);
  await login(author, server.url, 'eddie', 'eddie-password-1');
  await author.getByRole('link', { name: 'Services' }).click();
  await author.getByLabel('Search').fill('sear');
  await author.getByRole('link', { name: 'search', exact: true }).click();
  await author.getByRole('tab', { name: 'staging' }).click();
  await author.getByLabel('throttle.rps', { exact: true }).fill('4321');
  await author.getByRole('button', { name: 'Review and save…' }).click();
  const review = author.getByRole('region', { name: 'Review changes' });
  await review.getByText('4321').waitFor();
  const submit = review.getByRole('button', { name: 'Submit for review' });
  assert.equal(await review.getByRole('button', { name: 'Save', exact: true }).count(), 0, 'no direct save where approval is required');
  assert.equal(await submit.isDisabled(), true, 'the policy asks for a reason first');
  await review.getByLabel('Reason (required here)').fill('e2e: more headroom for the sale');
  await screenshot(author, '40-submit-for-review');
  await submit.click();
  const held = await author.getByText(/Submitted for review as change request #\d+/).textContent();
  const id = Number(held.match(/#(\d+)/)[1]);
  assert.equal(await stagingRps(), before, 'a held write changes nothing');

  // The author sees the request among the pending ones, with no approve button.
  await author.getByRole('link', { name: 'Reviews' }).click();
  await author.getByText('Nothing awaits your review.').waitFor();
  await author.getByLabel('Show').selectOption('pending');
  const own = author.getByRole('article', { name: `Change request #${id}` });
  await own.getByRole('button', { name: 'Withdraw' }).waitFor();
  assert.equal(await own.getByRole('button', { name: 'Approve' }).count(), 0, 'the author cannot approve their own');

  // The reviewer: the badge counts it; the diff shows it; approving applies it.
  const reviewerContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const reviewer = await reviewerContext.newPage();
  const reviewerErrors = watchErrors(reviewer);
  await login(reviewer, server.url, 'rita', 'rita-password-1');
  const nav = reviewer.getByRole('link', { name: 'Reviews' });
  await nav.locator('.badge', { hasText: '1' }).waitFor();
  await nav.click();
  const card = reviewer.getByRole('article', { name: `Change request #${id}` });
  await card.locator('.diff__after', { hasText: '4321' }).waitFor();
  await card.getByText('e2e: more headroom for the sale').waitFor();
  await screenshot(reviewer, '41-review-request');
  await card.getByLabel('Comment').fill('Looks right for the sale.');
  await card.getByRole('button', { name: 'Approve' }).click();
  await reviewer.getByText(`Change request #${id} is applied.`).waitFor();
  assert.equal(await stagingRps(), 4321, 'applied on the last approval');

  // The author's page follows the change stream: the request leaves the
  // pending list without a reload.
  await own.waitFor({ state: 'detached' });
  await screenshot(reviewer, '42-request-applied');

  const log = await admin.call('GET', '/changes?service=search&limit=10');
  const kinds = log.body.changes.map((c) => c.kind);
  for (const kind of ['change_request_opened', 'change_request_approved', 'values_changed']) {
    assert.ok(kinds.includes(kind), `${kind} in ${kinds}`);
  }
  const applied = log.body.changes.find((c) => c.kind === 'values_changed');
  assert.equal(applied.actor, 'user:eddie', 'the edit applies as its author');
  assert.deepEqual(authorErrors, []);
  assert.deepEqual(reviewerErrors, []);
  await authorContext.close();
  await reviewerContext.close();
});

test('a rollout started through the API shows on the overview, and a breaker halting it shows live', async () => {
  const service = await admin.call('GET', '/services/checkout');
  const rollout = '/services/checkout/flags/new-checkout-flow/environments/prod/rollout';
  const started = await admin.call('PUT', rollout, {
    base_revision: service.body.revision,
    reason: 'e2e: new checkout',
    plan: {
      variant: 'on',
      steps: [{ percent: 5, hold: '1h' }, { percent: 25, hold: '1h' }, { percent: 100, hold: '1h' }],
      guards: [{ breaker: 'payments-provider' }],
    },
  });
  assert.equal(started.status, 200, JSON.stringify(started.body));

  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = watchErrors(page);
  await login(page, server.url, 'admin', ADMIN_PASSWORD);
  const list = page.getByRole('list', { name: 'Rollouts under way' });
  await list.getByText('checkout / new-checkout-flow in prod: on of off, running at 5 % (step 1 of 3)').waitFor();

  const tripped = await admin.call(
    'POST',
    '/services/checkout/breakers/payments-provider/environments/prod/trip',
    { reason: 'e2e: provider down' },
  );
  assert.equal(tripped.status, 200, JSON.stringify(tripped.body));
  await list.getByText('halted at 0 % (step 1 of 3)').waitFor();
  await list.getByText('breaker payments-provider opened').waitFor();
  await screenshot(page, '41-overview-rollout-halted');

  const aborted = await admin.call('POST', `${rollout}/abort`, { reason: 'e2e: done' });
  assert.equal(aborted.status, 200, JSON.stringify(aborted.body));
  await page.getByText('No rollout is running, paused or halted.').waitFor();
  assert.deepEqual(errors, []);
  await context.close();
});
