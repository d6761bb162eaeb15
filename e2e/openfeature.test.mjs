// OpenFeature's own Node providers against the real server over OFREP:
// the server SDK with @openfeature/ofrep-provider (one request per
// evaluation) and the web SDK with @openfeature/ofrep-web-provider (bulk
// evaluation, polled with If-None-Match). No browser: both run in Node.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { OpenFeature as ServerFeature } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { OpenFeature as WebFeature, ProviderEvents } from '@openfeature/web-sdk';
import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';
import { ADMIN_PASSWORD, apiSession, startServer } from './harness.mjs';

let server;
let admin;
let token;

const onOff = { on: true, off: false };

/** The flags under test: one of each type, targeted, split and disabled. */
const FLAGS = {
  'new-checkout': {
    variants: onOff, off: 'off',
    environments: { prod: { enabled: true, default: { variant: 'off' }, rules: [
      { when: [{ attribute: 'email', op: 'ends_with', value: '@example.com' }], serve: { variant: 'on' } },
    ] } },
  },
  'banner-text': {
    variants: { hello: 'Hello', hallo: 'Hallo', welcome: 'Welcome' }, off: 'hello',
    environments: { prod: { enabled: true, default: { variant: 'hello' }, rules: [
      { when: [{ attribute: 'country', op: 'in', values: ['NL', 'BE'] }], serve: { variant: 'hallo' } },
    ] } },
  },
  'max-items': {
    variants: { few: 10, many: 50 }, off: 'few',
    environments: { prod: { enabled: true, default: { split: { weights: [
      { variant: 'few', weight: 50 }, { variant: 'many', weight: 50 },
    ] } } } },
  },
  theme: {
    variants: { dark: { background: '#000', accent: 'teal' }, light: { background: '#fff', accent: 'navy' } },
    off: 'light',
    environments: { prod: { enabled: true, default: { variant: 'dark' } } },
  },
  'legacy-search': {
    variants: onOff, off: 'off',
    environments: { prod: { enabled: false, default: { variant: 'on' } } },
  },
};

before(async () => {
  server = await startServer();
  admin = await apiSession(server.url, 'admin', ADMIN_PASSWORD);
  for (const name of ['dev', 'prod']) {
    const env = await admin.call('POST', '/environments', { name });
    assert.equal(env.status, 201, JSON.stringify(env.body));
  }
  const created = await admin.call('POST', '/services', { document: { service: 'storefront', flags: FLAGS } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const issued = await admin.call('POST', '/tokens', {
    name: 'storefront-prod', role: 'viewer', services: ['storefront'], environment: 'prod',
  });
  assert.equal(issued.status, 201, JSON.stringify(issued.body));
  token = issued.body.token;
});

after(async () => {
  await ServerFeature.close();
  await WebFeature.close();
  await server?.stop();
});

const auth = () => [['Authorization', `Bearer ${token}`]];

/** Replaces flag `key` of storefront through the API, as an editor would. */
async function putFlag(key, flag) {
  const service = await admin.call('GET', '/services/storefront');
  const answer = await admin.call('PUT', `/services/storefront/flags/${key}`, {
    flag, base_revision: service.body.revision,
  });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
}

/** Polls `check` until it holds, for at most `ms`. */
async function eventually(check, what, ms = 15_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('the server SDK evaluates every type, targeting, splits and errors', async () => {
  await ServerFeature.setProviderAndWait(new OFREPProvider({ baseUrl: server.url, headers: auth() }));
  const client = ServerFeature.getClient();

  const staff = await client.getBooleanDetails('new-checkout', false, { targetingKey: 'u1', email: 'ann@example.com' });
  assert.equal(staff.value, true);
  assert.equal(staff.reason, 'TARGETING_MATCH');
  assert.equal(staff.variant, 'on');
  assert.deepEqual(staff.flagMetadata, { service: 'storefront' });
  const guest = await client.getBooleanDetails('new-checkout', true, { targetingKey: 'u2', email: 'bob@mail.test' });
  assert.equal(guest.value, false);
  assert.equal(guest.reason, 'DEFAULT');

  const dutch = await client.getStringDetails('banner-text', 'fallback', { targetingKey: 'u3', country: 'NL' });
  assert.deepEqual([dutch.value, dutch.reason], ['Hallo', 'TARGETING_MATCH']);

  const seen = new Map();
  for (let i = 0; i < 40; i += 1) {
    const details = await client.getNumberDetails('max-items', 0, { targetingKey: `user-${i}` });
    assert.equal(details.reason, 'SPLIT');
    const again = await client.getNumberValue('max-items', 0, { targetingKey: `user-${i}` });
    assert.equal(again, details.value, 'a user stays in their bucket');
    seen.set(details.value, (seen.get(details.value) ?? 0) + 1);
  }
  assert.deepEqual([...seen.keys()].sort((a, b) => a - b), [10, 50], 'both halves of the split are served');

  const theme = await client.getObjectDetails('theme', {}, { targetingKey: 'u4' });
  assert.deepEqual(theme.value, { background: '#000', accent: 'teal' });
  assert.equal(theme.reason, 'STATIC');

  const missing = await client.getBooleanDetails('no-such-flag', true, { targetingKey: 'u5' });
  assert.equal(missing.value, true, 'the caller default');
  assert.equal(missing.errorCode, 'FLAG_NOT_FOUND');
  assert.equal(missing.reason, 'ERROR');

  const mismatch = await client.getNumberDetails('new-checkout', 7, { targetingKey: 'u6' });
  assert.equal(mismatch.value, 7);
  assert.equal(mismatch.errorCode, 'TYPE_MISMATCH');

  const disabled = await client.getBooleanDetails('legacy-search', true, { targetingKey: 'u7' });
  assert.deepEqual([disabled.value, disabled.reason, disabled.variant], [false, 'DISABLED', 'off']);

  const unplaced = await client.getNumberDetails('max-items', 3, {});
  assert.equal(unplaced.value, 3);
  assert.equal(unplaced.errorCode, 'TARGETING_KEY_MISSING');

  // A change through the API is the very next answer.
  await putFlag('banner-text', {
    ...FLAGS['banner-text'],
    environments: { prod: { enabled: true, default: { variant: 'welcome' } } },
  });
  const changed = await client.getStringDetails('banner-text', 'fallback', { targetingKey: 'u3', country: 'NL' });
  assert.deepEqual([changed.value, changed.reason], ['Welcome', 'STATIC']);
});

test('the server SDK without a token gets defaults and an error', async () => {
  await ServerFeature.setProviderAndWait('no-token', new OFREPProvider({ baseUrl: server.url }));
  const details = await ServerFeature.getClient('no-token').getBooleanDetails('new-checkout', true, { targetingKey: 'u' });
  assert.equal(details.value, true);
  assert.equal(details.reason, 'ERROR');
});

test('the web SDK evaluates in bulk, polls with If-None-Match and follows a change', async () => {
  const statuses = [];
  const fetchImplementation = async (request, init) => {
    const response = await fetch(request, init);
    statuses.push(response.status);
    return response;
  };
  const provider = new OFREPWebProvider({
    baseUrl: server.url, headers: auth(), pollInterval: 100, cacheMode: 'disabled',
    fetchImplementation, changeDetection: 'polling',
  });
  await WebFeature.setContext({ targetingKey: 'web-user', email: 'eve@example.com', country: 'BE' });
  await WebFeature.setProviderAndWait(provider);
  const client = WebFeature.getClient();

  assert.equal(client.getBooleanValue('new-checkout', false), true);
  assert.deepEqual(client.getObjectValue('theme', {}), { background: '#000', accent: 'teal' });
  const items = client.getNumberDetails('max-items', 0);
  assert.ok([10, 50].includes(items.value), JSON.stringify(items));
  assert.equal(items.reason, 'SPLIT');
  const missing = client.getBooleanDetails('no-such-flag', true);
  assert.deepEqual([missing.value, missing.errorCode], [true, 'FLAG_NOT_FOUND']);
  const mismatch = client.getStringDetails('max-items', 'x');
  assert.deepEqual([mismatch.value, mismatch.errorCode], ['x', 'TYPE_MISMATCH']);
  assert.equal(client.getBooleanDetails('legacy-search', true).reason, 'DISABLED');

  // Unchanged flags: the polls are answered 304, with no body.
  await eventually(() => statuses.filter((s) => s === 304).length >= 3, 'three 304 polls');
  assert.deepEqual(statuses.filter((s) => s !== 200 && s !== 304), []);

  const changed = new Promise((resolve) => client.addHandler(ProviderEvents.ConfigurationChanged, resolve));
  await putFlag('theme', { ...FLAGS.theme, environments: { prod: { enabled: true, default: { variant: 'light' } } } });
  const event = await changed;
  assert.ok(event.flagsChanged.includes('theme'), JSON.stringify(event));
  assert.deepEqual(client.getObjectValue('theme', {}), { background: '#fff', accent: 'navy' });
  const okAfter304 = statuses.lastIndexOf(200) > statuses.indexOf(304);
  assert.ok(okAfter304, `a 200 followed the 304s: ${statuses.join(',')}`);
});
