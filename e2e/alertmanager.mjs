// A real Prometheus Alertmanager (Debian's prometheus-alertmanager) on
// loopback, configured with a webhook to a Setpoint server.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** A free TCP port on loopback. */
async function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** The configuration: everything goes to Setpoint's webhook with the
 *  alert_source token, resolved alerts included, grouped per alert with
 *  short waits so that a test sees deliveries within seconds. */
export function alertmanagerConfig(setpointUrl, token) {
  return `route:
  receiver: setpoint
  group_by: ['alertname', 'instance']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: setpoint
    webhook_configs:
      - url: ${setpointUrl}/api/v1/hooks/alertmanager
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: ${token}
`;
}

/** Starts Alertmanager; resolves once its API answers. */
export async function startAlertmanager(setpointUrl, token) {
  const bin = process.env.ALERTMANAGER ?? '/usr/bin/prometheus-alertmanager';
  const dir = mkdtempSync(path.join(tmpdir(), 'setpoint-alertmanager-'));
  const config = path.join(dir, 'alertmanager.yml');
  writeFileSync(config, alertmanagerConfig(setpointUrl, token));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(bin, [
    `--config.file=${config}`,
    `--storage.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--cluster.listen-address=', // no gossip: a single instance
    '--log.level=warn',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => { stderr += chunk; });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const ready = await fetch(`${url}/-/ready`);
      if (ready.ok) break;
    } catch { /* not listening yet */ }
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`alertmanager did not start: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    url,
    /** Posts alerts to Alertmanager's own API, as Prometheus does. */
    async post(alerts) {
      const response = await fetch(`${url}/api/v2/alerts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(alerts),
      });
      if (!response.ok) throw new Error(`alertmanager refused alerts: ${response.status} ${await response.text()}`);
    },
    async stop() {
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
