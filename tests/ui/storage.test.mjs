// A full disk in the status bar, in a real browser (Debian's Chromium via playwright-core from
// ui/node_modules) against a real `steward serve` whose data dir is a small tmpfs, filled here
// by real writes until ENOSPC. Run: node --test tests/ui/ (as root: it mounts the tmpfs, and
// fails, saying why, when it cannot).
// Needs: `npm install` and `npm run build` in ui/, the steward binary ($STEWARD_BIN, default
// target/debug/steward) and /usr/bin/chromium. The plumbing is in support.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import {
  shots, prepare, startSteward, stopSteward, launchChromium,
} from './support.mjs';

const TOKEN = 'storage-test-token';

let dir, data, mounted = false, steward, browser, base, logs = '';

before(async () => {
  dir = prepare('steward-ui-storage-');
  data = path.join(dir, 'data');
  mkdirSync(data);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', data], { stdio: 'pipe' });
    mounted = true;
  } catch (e) {
    throw new Error(`this test needs a disk that really fills up: mounting a tmpfs at ${data} failed `
      + `(run it as root, with CAP_SYS_ADMIN): ${e.stderr?.toString().trim() || e.message}`);
  }
  const config = path.join(dir, 'steward.toml');
  writeFileSync(config, `# the defaults\n`);
  ({ child: steward, base } = await startSteward({ config, dataDir: data, token: TOKEN, onLog: (d) => { logs += d; } }));
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await stopSteward(steward);
  if (mounted) {
    try {
      execFileSync('umount', [data], { stdio: 'pipe' });
    } catch {
      execFileSync('umount', ['-l', data], { stdio: 'pipe' });
    }
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Writes `file` until the file system answers ENOSPC, down to the last byte. */
function fill(file) {
  const fd = openSync(file, 'w');
  try {
    for (const size of [1 << 20, 4096, 1]) {
      const chunk = Buffer.alloc(size, 0xa5);
      for (;;) {
        try {
          writeSync(fd, chunk);
        } catch (e) {
          if (e.code === 'ENOSPC') break;
          throw e;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
}

const postEvent = (service, blob) => fetch(`${base}/api/events`, {
  method: 'POST',
  headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
  body: JSON.stringify({ type: 'service_healthy', node: 'disk', service, payload: { blob } }),
});

test('a full disk shows in the status bar in words, and goes away when space returns', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
  await page.goto(`${base}/#token=${TOKEN}`);
  await page.waitForFunction(() => document.querySelector('#statusbar .conn')?.textContent === 'live');
  assert.ok(await page.locator('#storage-state').isHidden(), 'nothing to say while writes succeed');

  const filler = path.join(data, 'filler');
  fill(filler);
  // Events keep coming until Steward refuses one it could not keep.
  const blob = 'x'.repeat(16 * 1024);
  let refused = null;
  for (let i = 0; i < 2000 && !refused; i++) {
    const r = await postEvent(`svc-${i}`, blob);
    if (r.status === 503) refused = await r.json();
    else assert.equal(r.status, 202, await r.text());
  }
  assert.ok(refused, 'an event was refused once the disk was full');
  assert.equal(refused.code, 'storage_unavailable');

  const storage = page.locator('#storage-state');
  await storage.waitFor({ state: 'visible', timeout: 15000 });
  assert.match(await storage.textContent(), /^storage: database or disk is full/, 'SQLite\'s words, in the bar');
  assert.match(await storage.getAttribute('title'), /new events are refused \(503\)/, 'what it means, on hover');
  assert.equal(await page.getAttribute('#statusbar', 'data-overall'), 'degraded');
  await page.screenshot({ path: path.join(shots, 'storage-full.png') });

  unlinkSync(filler);
  await storage.waitFor({ state: 'hidden', timeout: 15000 });
  assert.equal(await page.getAttribute('#statusbar', 'data-overall'), 'healthy', 'writes succeed again');
  await page.close();
});
