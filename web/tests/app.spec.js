// Browser tests for the geostack web client. Run against a live server:
//   GEOSTACK_URL=http://127.0.0.1:8080 GEOSTACK_ADMIN_TOKEN=... \
//   GEOSTACK_TOKEN_CMD='target/debug/geostack token --sub' npx playwright test
import { test, expect } from '@playwright/test';
import { execSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const here = path.dirname(fileURLToPath(import.meta.url));
const RESULTS = path.join(here, '..', 'test-results');
const BASE = process.env.GEOSTACK_URL || 'http://127.0.0.1:8080';
const SAMPLE = { lat: 60.1699, lng: 24.9384, zoom: 15 };
// Development only: while the server has no /styles/default.json yet, accept its 404 and
// the app's inline fallback style.
const ALLOW_FALLBACK_STYLE = process.env.GEOSTACK_ALLOW_FALLBACK_STYLE === '1';

async function finalScreenshot(page, name) {
  mkdirSync(RESULTS, { recursive: true });
  await page.screenshot({ path: path.join(RESULTS, `${name}.png`), fullPage: false });
}

// Collect console errors and uncaught page errors from the start of each test.
function watchErrors(page) {
  const errors = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()} @ ${JSON.stringify(msg.location())}`);
  });
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  return errors;
}

function relevant(errors) {
  return ALLOW_FALLBACK_STYLE ? errors.filter((e) => !e.includes('/styles/default.json')) : errors;
}

async function openApp(page) {
  await page.goto('/');
  await page.waitForFunction(() => window.__geostack && window.__geostack.map && window.__geostack.map.loaded(), null, { timeout: 45_000 });
}

async function waitIdle(page) {
  await page.evaluate(() => new Promise((resolve) => {
    const map = window.__geostack.map;
    if (map.loaded() && map.areTilesLoaded() && !map.isMoving()) {
      // One more frame so the drawing buffer holds the final image.
      map.once('idle', () => resolve());
      map.triggerRepaint();
    } else {
      map.once('idle', () => resolve());
    }
  }));
}

test('page loads with no console errors', async ({ page }) => {
  const errors = watchErrors(page);
  await openApp(page);
  await waitIdle(page);
  await expect(page.locator('#map canvas.maplibregl-canvas')).toBeVisible();
  await expect(page.locator('.maplibregl-ctrl-attrib')).toContainText('OpenStreetMap contributors');
  for (const id of ['#search-input', '#search-button', '#results', '#origin', '#destination', '#route-button', '#steps', '#token', '#sign-in', '#friends']) {
    await expect(page.locator(id), id).toHaveCount(1);
  }
  // The app must use the server's style (the inline fallback is for outages only).
  const styleSource = await page.evaluate(() => window.__geostack.styleSource);
  await page.waitForTimeout(1000);
  await finalScreenshot(page, '1-page-loads');
  expect(relevant(errors), errors.join('\n')).toEqual([]);
  if (!ALLOW_FALLBACK_STYLE) expect(styleSource).toBe('server');
});

test('map canvas paints roads', async ({ page }) => {
  await openApp(page);
  await page.evaluate(({ lat, lng, zoom }) => window.__geostack.map.jumpTo({ center: [lng, lat], zoom }), SAMPLE);
  await waitIdle(page);
  const result = await page.evaluate(async () => {
    const map = window.__geostack.map;
    const canvas = map.getCanvas();
    const url = canvas.toDataURL('image/png');
    const img = new Image();
    await new Promise((res, rej) => { img.onload = res; img.onerror = rej; img.src = url; });
    const c2 = document.createElement('canvas');
    c2.width = img.width; c2.height = img.height;
    const ctx = c2.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const data = ctx.getImageData(0, 0, c2.width, c2.height).data;
    const px = (x, y) => { const i = (y * c2.width + x) * 4; return [data[i], data[i + 1], data[i + 2]]; };

    // Background colour: the style's background layer, else the most common pixel.
    let bg = null;
    const bgLayer = map.getStyle().layers.find((l) => l.type === 'background');
    if (bgLayer) {
      const v = map.getPaintProperty(bgLayer.id, 'background-color');
      if (typeof v === 'string') {
        const t = document.createElement('canvas').getContext('2d');
        t.fillStyle = v; t.fillRect(0, 0, 1, 1);
        const d = t.getImageData(0, 0, 1, 1).data;
        bg = [d[0], d[1], d[2]];
      }
    }
    if (!bg) {
      const counts = new Map();
      for (let i = 0; i < data.length; i += 4 * 7) {
        const k = `${data[i]},${data[i + 1]},${data[i + 2]}`;
        counts.set(k, (counts.get(k) || 0) + 1);
      }
      bg = [...counts.entries()].sort((a, b) => b[1] - a[1])[0][0].split(',').map(Number);
    }
    const differs = (p) => Math.abs(p[0] - bg[0]) + Math.abs(p[1] - bg[1]) + Math.abs(p[2] - bg[2]) > 24;

    let nonBg = 0; let total = 0;
    for (let y = 0; y < c2.height; y += 3) {
      for (let x = 0; x < c2.width; x += 3) { total++; if (differs(px(x, y))) nonBg++; }
    }

    // Road vertices from the vector tiles (source-layer "roads"), projected to pixels.
    const ratio = c2.width / canvas.clientWidth;
    const roadPoints = [];
    for (const [id, src] of Object.entries(map.getStyle().sources)) {
      if (src.type !== 'vector') continue;
      for (const f of map.querySourceFeatures(id, { sourceLayer: 'roads' })) {
        if (!['primary', 'secondary', 'trunk', 'tertiary', 'minor'].includes(f.properties.class)) continue;
        const lines = f.geometry.type === 'LineString' ? [f.geometry.coordinates] : f.geometry.type === 'MultiLineString' ? f.geometry.coordinates : [];
        for (const line of lines) {
          for (let i = 0; i + 1 < line.length; i++) {
            // Midpoint of a segment: clear of junction and label clutter.
            const mid = [(line[i][0] + line[i + 1][0]) / 2, (line[i][1] + line[i + 1][1]) / 2];
            const p = map.project(mid);
            if (p.x > 20 && p.y > 20 && p.x < canvas.clientWidth - 20 && p.y < canvas.clientHeight - 20) {
              roadPoints.push({ name: f.properties.name, cls: f.properties.class, x: Math.round(p.x * ratio), y: Math.round(p.y * ratio) });
            }
          }
        }
      }
    }
    const sample = roadPoints.filter((_, i) => i % Math.max(1, Math.floor(roadPoints.length / 200)) === 0);
    const hits = sample.filter((r) => differs(px(r.x, r.y))).length;
    return {
      bg, nonBgFraction: nonBg / total, roadPointCount: sample.length, roadHits: hits,
      mannerheimintie: roadPoints.filter((r) => /Mannerheimintie/.test(r.name || '')).length,
      mannerheimintiePainted: roadPoints.filter((r) => /Mannerheimintie/.test(r.name || '') && differs(px(r.x, r.y))).length,
    };
  });
  await finalScreenshot(page, '2-map-paints-roads');
  console.log(JSON.stringify(result));
  expect(result.nonBgFraction, 'share of non-background pixels').toBeGreaterThan(0.2);
  expect(result.roadPointCount, 'road vertices in view').toBeGreaterThan(10);
  expect(result.mannerheimintie, 'Mannerheimintie among the roads in view').toBeGreaterThan(0);
  expect(result.mannerheimintiePainted / result.mannerheimintie, 'Mannerheimintie painted').toBeGreaterThan(0.8);
  expect(result.roadHits / result.roadPointCount, 'road points painted in a non-background colour').toBeGreaterThan(0.8);
});

test('search lists the same businesses as the API', async ({ page, request }) => {
  const errors = watchErrors(page);
  await openApp(page);
  const query = 'Mannerheimintie';
  await page.fill('#search-input', query);
  await page.click('#search-button');
  await expect(page.locator('#results li[data-business-id]').first()).toBeVisible();
  await expect(page.locator('#search-status')).not.toHaveText(/Searching/);

  const geo = await (await request.get(`/v1/geocode?address=${encodeURIComponent(query)}`)).json();
  expect(geo.status).toBe('OK');
  const loc = geo.results[0].geometry.location;
  const radius = await page.inputValue('#radius');
  const api = await request.get(`/v1/search/nearby?latitude=${loc.lat}&longitude=${loc.lng}&radius=${radius}&limit=50`);
  expect(api.ok()).toBe(true);
  const expected = (await api.json()).businesses.map((b) => String(b.id));
  expect(expected.length).toBeGreaterThan(0);
  const listed = await page.locator('#results li[data-business-id]').evaluateAll((els) => els.map((e) => e.dataset.businessId));
  expect(listed).toEqual(expected);
  await expect(page.locator('.business-marker')).toHaveCount(expected.length);
  const center = await page.evaluate(() => window.__geostack.map.getCenter());
  expect(Math.abs(center.lat - loc.lat)).toBeLessThan(0.01);
  expect(Math.abs(center.lng - loc.lng)).toBeLessThan(0.01);
  await page.waitForTimeout(800);
  await finalScreenshot(page, '3-search');
  expect(relevant(errors), errors.join('\n')).toEqual([]);
});

test('a route is drawn and its steps listed', async ({ page, request }) => {
  await openApp(page);
  const origin = '60.1699,24.9384';
  const destination = '60.1750,24.9450';
  await page.fill('#origin', origin);
  await page.fill('#destination', destination);
  await page.click('#route-button');
  await page.waitForFunction(() => window.__geostack.routesDrawn >= 1, null, { timeout: 30_000 });

  const api = await request.get(`/v1/nav?origin=${origin}&destination=${destination}&mode=driving&alternatives=true`);
  expect(api.ok()).toBe(true);
  const nav = await api.json();
  expect(nav.status).toBe('OK');
  const stepCount = nav.routes[0].legs.reduce((n, leg) => n + leg.steps.length, 0);
  expect(stepCount).toBeGreaterThan(0);
  await expect(page.locator('#steps li')).toHaveCount(stepCount);
  expect(await page.evaluate(() => window.__geostack.routesDrawn)).toBe(nav.routes.length);
  // The route layer is actually on the map with the decoded geometry.
  const drawn = await page.evaluate(() => {
    const map = window.__geostack.map;
    const src = map.getSource('routes');
    return src ? src.serialize().data.features.map((f) => f.geometry.coordinates.length) : [];
  });
  expect(drawn.length).toBe(nav.routes.length);
  expect(drawn[0]).toBeGreaterThan(1);
  await page.evaluate(() => new Promise((r) => window.__geostack.map.once('idle', r)));
  await finalScreenshot(page, '4-route');
});

function mintToken(userId) {
  const cmd = process.env.GEOSTACK_TOKEN_CMD;
  if (!cmd) throw new Error('GEOSTACK_TOKEN_CMD is not set (a command printing a JWT for a user id given as its last argument)');
  const out = execSync(`${cmd} ${userId}`, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = out.split('\n').map((l) => l.trim()).filter(Boolean);
  const token = lines.reverse().find((l) => /^[\w-]+\.[\w-]+\.[\w-]+$/.test(l));
  if (!token) throw new Error(`no JWT in the output of ${cmd} ${userId}: ${out}`);
  return token;
}

test('a simulated friend marker moves', async ({ page, request }) => {
  const admin = process.env.GEOSTACK_ADMIN_TOKEN;
  if (!admin) throw new Error('GEOSTACK_ADMIN_TOKEN is not set');
  const suffix = Date.now().toString(36);
  const mkUser = async (name) => {
    const r = await request.post('/v1/users', { headers: { Authorization: `Bearer ${admin}` }, data: { name } });
    expect(r.status(), await r.text()).toBe(201);
    return (await r.json()).id;
  };
  const a = await mkUser(`web-test-a-${suffix}`);
  const b = await mkUser(`web-test-b-${suffix}`);
  const tokenA = mintToken(a);
  const tokenB = mintToken(b);
  const r1 = await request.post('/v1/friends', { headers: { Authorization: `Bearer ${tokenA}` }, data: { friend_id: b } });
  expect([201, 202], await r1.text()).toContain(r1.status());
  const r2 = await request.post('/v1/friends', { headers: { Authorization: `Bearer ${tokenB}` }, data: { friend_id: a } });
  expect(r2.status(), await r2.text()).toBe(201);

  await openApp(page);
  await page.evaluate(({ lat, lng, zoom }) => window.__geostack.map.jumpTo({ center: [lng, lat], zoom }), SAMPLE);
  await page.fill('#token', tokenA);
  await page.click('#sign-in');
  await page.waitForFunction(() => window.__geostack.friendsConnected === true, null, { timeout: 15_000 });
  await expect(page.locator('#friends-status')).toContainText(/friend|Connected/);
  await page.waitForTimeout(500); // let the server register A's init

  const wsUrl = `${BASE.replace(/^http/, 'ws')}/v1/ws/friends?token=${encodeURIComponent(tokenB)}`;
  const ws = new WebSocket(wsUrl);
  const received = [];
  ws.on('message', (m) => received.push(String(m)));
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const send = (type, lat, lng) => ws.send(JSON.stringify({ type, latitude: lat, longitude: lng, timestamp: Date.now() / 1000 }));
  const key = String(b);
  try {
    send('init', SAMPLE.lat + 0.001, SAMPLE.lng + 0.001);
    await sleep(1500);
    send('location', SAMPLE.lat + 0.002, SAMPLE.lng + 0.002);
    const marker = page.locator(`.friend-marker[data-user-id="${key}"]`);
    await expect(marker).toHaveCount(1, { timeout: 15_000 });
    await expect(page.locator(`#friends li[data-user-id="${key}"]`)).toContainText(`friend ${key}:`);
    const first = await page.evaluate((k) => window.__geostack.friendPositions[k], key);
    expect(first).toBeTruthy();
    const firstBox = await marker.boundingBox();
    await sleep(1500);
    send('location', SAMPLE.lat - 0.002, SAMPLE.lng - 0.003);
    await page.waitForFunction(({ k, p }) => {
      const q = window.__geostack.friendPositions[k];
      return q && (Math.abs(q[0] - p[0]) > 1e-6 || Math.abs(q[1] - p[1]) > 1e-6);
    }, { k: key, p: first }, { timeout: 15_000 });
    const second = await page.evaluate((k) => window.__geostack.friendPositions[k], key);
    expect(second[0]).toBeCloseTo(SAMPLE.lng - 0.003, 5);
    expect(second[1]).toBeCloseTo(SAMPLE.lat - 0.002, 5);
    const secondBox = await marker.boundingBox();
    expect(Math.abs(secondBox.x - firstBox.x) + Math.abs(secondBox.y - firstBox.y)).toBeGreaterThan(5);
    await finalScreenshot(page, '5-friends');
  } finally {
    ws.close();
    const errs = received.filter((m) => m.includes('"error"'));
    if (errs.length) console.log('friend socket errors:', errs.join(' | '));
  }
});

test('usable on a phone-sized viewport', async ({ page }) => {
  const errors = watchErrors(page);
  await page.setViewportSize({ width: 390, height: 844 });
  await openApp(page);
  // The map fills the width and keeps part of the screen next to the panel.
  const map = await page.locator('#map').boundingBox();
  expect(map.width).toBeGreaterThanOrEqual(389);
  expect(map.height).toBeGreaterThan(200);
  // The panel can be hidden and shown again, and its controls are reachable.
  const toggle = page.locator('#panel-toggle');
  await expect(toggle).toBeVisible();
  await toggle.click();
  await expect(page.locator('#search-input')).toBeHidden();
  await toggle.click();
  await expect(page.locator('#search-input')).toBeVisible();
  await page.fill('#search-input', 'Mannerheimintie');
  await page.click('#search-button');
  await expect(page.locator('#results li[data-business-id]').first()).toBeVisible();
  // Nothing wider than the screen: no sideways scrolling on a phone.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await finalScreenshot(page, '6-phone');
  expect(relevant(errors), errors.join('\n')).toEqual([]);
});
