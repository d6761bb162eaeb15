// Shared set-up for end-to-end tests: starts the real `setpoint` binary with
// the real built console on a free port, and launches Debian's Chromium.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const root = path.resolve(import.meta.dirname, '..');
export const screenshotDir = path.join(root, 'test-artifacts', 'screenshots');

/** Starts `setpoint serve` on a free port; resolves once it listens. */
export async function startServer() {
  const bin = process.env.SETPOINT_BIN ?? path.join(root, 'target', 'debug', 'setpoint');
  const consoleDir = process.env.SETPOINT_CONSOLE_DIR ?? path.join(root, 'dist');
  const data = mkdtempSync(path.join(tmpdir(), 'setpoint-e2e-'));
  const child = spawn(bin, ['serve', '--listen', '127.0.0.1:0', '--data', data, '--console-dir', consoleDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
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
  return { url, stop: () => child.kill('SIGTERM') };
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
