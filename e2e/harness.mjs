// Shared set-up for end-to-end tests: starts the real `setpoint` binary with
// the real built console on a free port, and launches Debian's Chromium.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const root = path.resolve(import.meta.dirname, '..');
export const screenshotDir = path.join(root, 'test-artifacts', 'screenshots');

/** The first admin's password in every test server. */
export const ADMIN_PASSWORD = 'e2e-admin-password';

/** Starts `setpoint serve` on a free port; resolves once it listens.
 *  With `demo`, the demo services are seeded. */
export async function startServer({ demo = false } = {}) {
  const bin = process.env.SETPOINT_BIN ?? path.join(root, 'target', 'debug', 'setpoint');
  const consoleDir = process.env.SETPOINT_CONSOLE_DIR ?? path.join(root, 'dist');
  const data = mkdtempSync(path.join(tmpdir(), 'setpoint-e2e-'));
  const args = ['serve', '--listen', '127.0.0.1:0', '--data', data, '--console-dir', consoleDir];
  if (demo) args.push('--demo');
  const child = spawn(bin, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SETPOINT_ADMIN_PASSWORD: ADMIN_PASSWORD },
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => { stderr += chunk; });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${stderr}`)), 30_000);
    let stdout = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      const match = stdout.match(/running at (http:\/\/\S+?)\/?\s/);
      if (match) { clearTimeout(timer); resolve(match[1]); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited with ${code}: ${stderr}`)); });
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  return {
    url,
    /** Stops the server and removes its data. */
    async stop() {
      child.kill('SIGTERM');
      await exited;
      rmSync(data, { recursive: true, force: true });
    },
  };
}

/** Launches headless Chromium from Debian, never a downloaded browser. */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--no-first-run', '--disable-default-apps', '--disable-extensions',
    ],
  });
}

/** Saves a screenshot under test-artifacts/screenshots for people to look at. */
export async function screenshot(page, name) {
  mkdirSync(screenshotDir, { recursive: true });
  await page.screenshot({ path: path.join(screenshotDir, `${name}.png`), fullPage: true });
}

/** Logs in through the console's form and waits for the shell, and, at
 *  the root, for the overview it lands on. Waiting for the overview
 *  matters: a link clicked while the first page's module is still loading
 *  can leave that page shown under the new address (docs/roadmap.md,
 *  known gaps). */
export async function login(page, url, username, password) {
  await page.goto(url);
  await page.getByLabel('User name').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('button', { name: 'Log out' }).waitFor();
  if (new URL(url).pathname === '/') {
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
  }
}

/** An API client logged in as `username`: `call(method, path, body)`
 *  resolves to `{ status, body }`. Writes carry the session's CSRF token. */
export async function apiSession(url, username, password) {
  const response = await fetch(`${url}/api/v1/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (!response.ok) throw new Error(`login as ${username}: ${response.status}`);
  const cookie = response.headers.get('set-cookie').split(';')[0];
  const { csrf_token: csrf } = await response.json();
  return {
    async call(method, path, body) {
      const answer = await fetch(`${url}/api/v1${path}`, {
        method,
        headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await answer.text();
      return { status: answer.status, body: text ? JSON.parse(text) : null };
    },
  };
}

/** Collects page errors and console errors, to assert there were none. */
export function watchErrors(page, expected = [['/api/v1/me', 401]]) {
  const errors = [];
  page.on('pageerror', (error) => errors.push(String(error)));
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    // Chromium logs every 4xx answer as an error; the ones a test provokes
    // on purpose (the 401 of "who am I?" before login, a 409 conflict) are
    // expected, and passed in `expected` as URL parts with their status.
    const where = message.location().url ?? '';
    if (expected.some(([part, status]) => where.includes(part) && message.text().includes(`status of ${status}`))) return;
    errors.push(`${message.text()} (${where})`);
  });
  return errors;
}
