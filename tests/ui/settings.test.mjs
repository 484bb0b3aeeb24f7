// The Settings view in a real browser (Debian's Chromium via playwright-core from
// ui/node_modules) against a real `steward serve` whose config file the page edits: a
// provider added (tested, then saved) shows in the overview and goes healthy, and is in the
// file with everything else the file had; a refused edit says why next to its field and
// leaves the file as it was; a delete asks first; an edit made on a file that changed on disk
// meanwhile says so, keeps the input, and saves on the second try; the executor's command
// templates and the planner's chain are saved as argv lists and an ordered list.
// Run: node --test tests/ui/
// Needs: `npm install` and `npm run build` in ui/, the steward binary ($STEWARD_BIN, default
// target/debug/steward) and /usr/bin/chromium. The plumbing is in support.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import {
  shots, prepare, Service, startSteward, stopSteward, launchChromium,
} from './support.mjs';

const TOKEN = 'settings-test-token';

let dir, config, web, api, steward, browser, base, logs = '';

const file = () => readFileSync(config, 'utf8');

before(async () => {
  dir = prepare('steward-ui-settings-');
  web = new Service();
  await web.start();
  // The service the provider added from the page watches.
  api = new Service();
  await api.start();
  config = path.join(dir, 'steward.toml');
  writeFileSync(config, `# My fleet: this comment stays whatever the page changes.
[probe]
interval = "1s"
timeout = "1s"

[[providers]]
id = "web"
kind = "http"
node = "lab"
service = "nginx"
url = "http://127.0.0.1:${web.port}/health"

[[providers]]
id = "old"
kind = "tcp"
node = "lab"
service = "mqtt"
address = "127.0.0.1:${web.port}"  # retired soon

[planner]
chain = ["rules"]
actions_dir = ${JSON.stringify(path.join(dir, 'actions'))}
events_dir = ${JSON.stringify(path.join(dir, 'events'))}
`);
  ({ child: steward, base } = await startSteward({
    config, dataDir: path.join(dir, 'data'), token: TOKEN, onLog: (d) => { logs += d; },
  }));
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await stopSteward(steward);
  await web?.stop().catch(() => {});
  await api?.stop().catch(() => {});
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function openSettings() {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 }, colorScheme: 'light' });
  page.on('pageerror', (e) => { logs += `page error: ${e.message}\n`; });
  await page.goto(`${base}/#/settings&token=${TOKEN}`);
  await page.waitForSelector('#settings-provider-list tr[data-config-provider="web"]');
  await page.waitForFunction(() => document.querySelector('#statusbar .conn')?.textContent === 'live');
  return page;
}

const text = async (page, sel) => (await page.textContent(sel)).replace(/\s+/g, ' ').trim();

test('the settings link is in the navigation and the page shows the config file\'s path', async () => {
  const page = await openSettings();
  assert.equal(await page.getAttribute('#tab-settings', 'aria-current'), 'page');
  assert.equal(await page.inputValue('#config-path'), config);
  assert.ok(await page.isVisible('#copy-path'), 'a browser gets a copy button');
  assert.deepEqual(
    await page.$$eval('#settings-provider-list tbody tr', (trs) => trs.map((tr) => tr.dataset.configProvider)),
    ['web', 'old'],
  );
  assert.equal(await page.inputValue('#probe-form [name="interval"]'), '1s', 'the probe defaults as the file has them');
  await page.close();
});

test('a provider added from the page (tested, then saved) is in the file, in the overview, and goes healthy', async () => {
  const page = await openSettings();
  await page.click('#add-provider');
  await page.fill('#provider-form [name="id"]', 'api');
  assert.equal(await page.inputValue('#provider-form [name="kind"]'), 'http', 'http by default');
  await page.fill('#provider-form [name="node"]', 'lab');
  await page.fill('#provider-form [name="service"]', 'api');
  await page.fill('#provider-form [name="url"]', `http://127.0.0.1:${api.port}/health`);
  await page.click('#provider-form button.test');
  await page.waitForSelector('#provider-form .test-outcome[data-status="up"]', { timeout: 10000 });
  assert.match(await text(page, '#provider-form .test-outcome'), /^UP [\d.,]+ ms$/);
  assert.ok(!file().includes('id = "api"'), 'a test saves nothing');
  await page.screenshot({ path: path.join(shots, 'settings-add.png'), fullPage: true });

  await page.click('#provider-form button.save');
  await page.waitForSelector('#provider-form', { state: 'detached' });
  await page.waitForSelector('#settings-provider-list tr[data-config-provider="api"]');
  assert.match(await text(page, '#settings-providers .form-notice.done'), /Saved provider api/);
  const saved = file();
  assert.ok(
    saved.includes(`[[providers]]\nid = "api"\nkind = "http"\nnode = "lab"\nservice = "api"\nurl = "http://127.0.0.1:${api.port}/health"\n`),
    saved,
  );
  assert.ok(saved.startsWith('# My fleet: this comment stays'), 'the rest of the file stays');
  assert.ok(saved.includes('address = "127.0.0.1:' + web.port + '"  # retired soon'), saved);

  await page.click('#tab-overview');
  await page.waitForSelector('tr[data-provider-id="api"][data-status="ok"]', { timeout: 15000 });
  assert.equal(await text(page, 'tr[data-provider-id="api"] .badge'), 'OK', 'healthy');
  await page.close();
});

test('a refused edit says why next to its field and leaves the file as it was', async () => {
  const page = await openSettings();
  const before = file();
  await page.click('[data-edit="web"]');
  assert.equal(await page.getAttribute('#provider-form [name="id"]', 'readonly'), '', 'an id is read-only when editing');
  assert.match(await text(page, '#provider-form [data-field="id"] .hint'), /history stays with the old id/);
  await page.click('#provider-form details.more > summary');
  await page.fill('#provider-form [name="interval"]', 'soon');
  await page.click('#provider-form button.save');
  const error = '#provider-form [data-error-for="interval"]';
  await page.waitForSelector(`${error}:not([hidden])`);
  assert.match(await text(page, error), /"soon" is not a duration/);
  assert.equal(await page.getAttribute('#provider-form [name="interval"]', 'aria-invalid'), 'true');
  assert.equal(await page.inputValue('#provider-form [name="interval"]'), 'soon', 'the input stays');
  assert.equal(file(), before, 'the file is unchanged');
  await page.screenshot({ path: path.join(shots, 'settings-invalid.png'), fullPage: true });
  await page.click('#provider-form button.cancel');

  // A section's issue names `probe.interval`: it goes next to that field too.
  await page.fill('#probe-form [name="interval"]', 'later');
  await page.click('#probe-form button.save');
  await page.waitForSelector('#probe-form [data-error-for="interval"]:not([hidden])');
  assert.match(await text(page, '#probe-form [data-error-for="interval"]'), /"later" is not a duration/);
  assert.equal(file(), before, 'still unchanged');
  await page.close();
});

test('delete asks first: cancel keeps the provider, confirm removes it from the file', async () => {
  const page = await openSettings();
  await page.click('[data-delete="old"]');
  const confirm = '#settings-provider-list tr[data-config-provider="old"] .confirm';
  await page.waitForSelector(confirm);
  assert.match(await text(page, confirm), /Delete old from the config file\? Its history stays/);
  await page.click('[data-cancel-delete="old"]');
  await page.waitForSelector(confirm, { state: 'detached' });
  assert.ok(await page.isVisible('[data-delete="old"]'), 'the row is back as it was');
  assert.ok(file().includes('id = "old"'), 'nothing deleted');

  await page.click('[data-delete="old"]');
  await page.click('[data-confirm-delete="old"]');
  await page.waitForSelector('#settings-provider-list tr[data-config-provider="old"]', { state: 'detached' });
  const after = file();
  assert.ok(!after.includes('id = "old"'), after);
  assert.ok(after.includes('id = "web"') && after.includes('id = "api"'), 'the others stay');
  await page.close();
});

test('an edit on a file changed on disk meanwhile says so, keeps the input, and saves on the second try', async () => {
  const page = await openSettings();
  await page.click('[data-edit="web"]');
  await page.fill('#provider-form [name="service"]', 'caddy');
  // Someone edits the file by hand while the form is open.
  writeFileSync(config, file() + '\n# edited by hand\n');
  await page.click('#provider-form button.save');
  const notice = '#provider-form .form-notice.changed';
  await page.waitForSelector(notice);
  assert.match(await text(page, notice), /changed on disk/);
  assert.equal(await page.inputValue('#provider-form [name="service"]'), 'caddy', 'the input is kept');
  assert.ok(file().includes('service = "nginx"'), 'nothing written over the change');
  await page.screenshot({ path: path.join(shots, 'settings-conflict.png'), fullPage: true });

  await page.click('#provider-form button.save');
  await page.waitForSelector('#provider-form', { state: 'detached' });
  const saved = file();
  assert.ok(saved.includes('service = "caddy"'), saved);
  assert.ok(saved.includes('# edited by hand'), 'the change made on disk stays');
  await page.close();
});

test('command templates are saved as argv lists; the planner chain in the order set', async () => {
  const page = await openSettings();
  assert.match(await text(page, '#commands-form'), /\{node\} and \{service\}/, 'the placeholders are shown');
  await page.click('#commands-form button.add');
  await page.fill('#commands-form [name="command-name-0"]', 'container_restart');
  await page.fill('#commands-form [name="command-0-0"]', 'docker');
  await page.click('#commands-form [data-argv="command-0"] button.add');
  await page.fill('#commands-form [name="command-0-1"]', 'restart');
  await page.click('#commands-form [data-argv="command-0"] button.add');
  await page.fill('#commands-form [name="command-0-2"]', '{service}');
  await page.click('#commands-form button.save');
  await page.waitForSelector('#commands-form .form-notice.done');
  assert.match(file(), /container_restart = \["docker", "restart", "\{service\}"\]/);

  // A model, then the chain: the model first, then rules.
  await page.click('#add-model');
  await page.fill('#model-form [name="id"]', 'local');
  await page.fill('#model-form [name="url"]', 'http://127.0.0.1:9/v1');
  await page.fill('#model-form [name="model"]', 'qwen2.5:7b');
  await page.click('#model-form button.save');
  await page.waitForSelector('#settings-model-list tr[data-config-model="local"]');
  await page.selectOption('#settings-chain [name="chain-add"]', 'local');
  await page.click('#settings-chain li[data-chain="local"] button[aria-label="Move local up"]');
  assert.deepEqual(await page.$$eval('#settings-chain li', (lis) => lis.map((li) => li.dataset.chain)), ['local', 'rules']);
  await page.click('#settings-chain button.save-chain');
  await page.waitForSelector('#settings-chain .form-notice.done');
  assert.match(file(), /chain = \["local", "rules"\]/);
  await page.close();
});
