// geostack browser client: MapLibre map on the server's own tiles, geocoding search,
// nearby businesses, directions and live friends over a WebSocket.
import * as maplibregl from 'maplibre-gl';
import workerSource from 'maplibre-worker-source';
import { decodePolyline } from './polyline.js';

const DEFAULT_CENTER = [24.9384, 60.1699];
const DEFAULT_ZOOM = 15;
const LOCATION_INTERVAL_MS = 30000;

// ---------------------------------------------------------------- utilities

const $ = (id) => document.getElementById(id);

const state = {
  map: null,
  routesDrawn: 0,
  friendPositions: {},
  friendsConnected: false,
  lastSearch: null,
  styleSource: null, // 'server' | 'fallback'
  businessMarkers: [],
  friendMarkers: new Map(),
  friendDistances: new Map(),
  endpointMarkers: {},
  pick: null, // 'origin' | 'destination' | null
  socket: null,
  locationTimer: null,
};

// Test hook, kept up to date (getters read the live state).
window.__geostack = {
  get map() { return state.map; },
  get routesDrawn() { return state.routesDrawn; },
  get friendPositions() { return state.friendPositions; },
  get friendsConnected() { return state.friendsConnected; },
  get lastSearch() { return state.lastSearch; },
  get styleSource() { return state.styleSource; },
};

function setStatus(id, text, isError = false) {
  const el = $(id);
  if (!el) return;
  el.textContent = text || '';
  el.classList.toggle('error', !!isError);
}

class ApiError extends Error {}

// Fetch JSON; on HTTP errors raise an ApiError carrying the problem+json `detail`.
async function fetchJson(url, options) {
  let res;
  try {
    res = await fetch(url, options);
  } catch (e) {
    throw new ApiError(`network error: ${e && e.message ? e.message : e}`);
  }
  let body = null;
  const text = await res.text();
  if (text) {
    try { body = JSON.parse(text); } catch { body = null; }
  }
  if (!res.ok) {
    const detail = body && (body.detail || body.title || body.error_message || body.status);
    throw new ApiError(detail ? `${detail}` : `HTTP ${res.status} ${res.statusText}`);
  }
  if (body === null) throw new ApiError(`invalid JSON from ${url}`);
  return body;
}

function errorText(e) {
  if (e instanceof ApiError) return e.message;
  return (e && e.message) || String(e);
}

const LATLNG_RE = /^\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*$/;
function parseLatLng(text) {
  const m = LATLNG_RE.exec(text || '');
  if (!m) return null;
  const lat = Number(m[1]);
  const lng = Number(m[2]);
  if (!(lat >= -90 && lat <= 90 && lng >= -180 && lng <= 180)) return null;
  return { lat, lng };
}

function formatDistance(m) {
  if (typeof m !== 'number' || !isFinite(m)) return '';
  return m < 1000 ? `${Math.round(m)} m` : `${(m / 1000).toFixed(m < 10000 ? 2 : 1)} km`;
}

// Keep only harmless formatting from the Directions `html_instructions`.
function sanitizedInstruction(html) {
  const out = document.createElement('span');
  const doc = new DOMParser().parseFromString(`<body>${html || ''}</body>`, 'text/html');
  const allowed = new Set(['B', 'STRONG', 'I', 'EM', 'WBR']);
  const copy = (src, dst) => {
    for (const node of src.childNodes) {
      if (node.nodeType === Node.TEXT_NODE) {
        dst.appendChild(document.createTextNode(node.textContent));
      } else if (node.nodeType === Node.ELEMENT_NODE) {
        if (allowed.has(node.tagName)) {
          const el = document.createElement(node.tagName.toLowerCase());
          copy(node, el);
          dst.appendChild(el);
        } else {
          if (node.tagName === 'DIV' || node.tagName === 'BR') dst.appendChild(document.createTextNode(' '));
          copy(node, dst);
        }
      }
    }
  };
  copy(doc.body, out);
  return out;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

// ---------------------------------------------------------------- map setup

function fallbackStyle() {
  return {
    version: 8,
    name: 'geostack fallback',
    sources: {
      geostack: { type: 'vector', url: `${location.origin}/tiles.json` },
    },
    layers: [
      { id: 'background', type: 'background', paint: { 'background-color': '#f2efe9' } },
      {
        id: 'landuse', type: 'fill', source: 'geostack', 'source-layer': 'landuse',
        paint: {
          'fill-color': ['match', ['get', 'class'],
            ['park', 'grass', 'forest', 'wood', 'meadow', 'garden', 'recreation_ground', 'cemetery', 'village_green'], '#cfe8c2',
            ['residential'], '#e9e4dc',
            ['commercial', 'retail'], '#f1e1e1',
            ['industrial', 'railway'], '#e6e0ec',
            '#e4e0d6'],
        },
      },
      { id: 'water', type: 'fill', source: 'geostack', 'source-layer': 'water', paint: { 'fill-color': '#a9cfe8' } },
      {
        id: 'buildings', type: 'fill', source: 'geostack', 'source-layer': 'buildings', minzoom: 13,
        paint: { 'fill-color': '#d9d0c7', 'fill-outline-color': '#c4b9ae' },
      },
      {
        id: 'roads-casing', type: 'line', source: 'geostack', 'source-layer': 'roads',
        filter: ['match', ['get', 'class'], ['motorway', 'trunk', 'primary', 'secondary', 'tertiary', 'motorway_link', 'link'], true, false],
        layout: { 'line-cap': 'round', 'line-join': 'round' },
        paint: {
          'line-color': '#b8a98a',
          'line-width': ['interpolate', ['exponential', 1.6], ['zoom'], 10, 1.5, 14, 6, 17, 20],
        },
      },
      {
        id: 'roads', type: 'line', source: 'geostack', 'source-layer': 'roads',
        layout: { 'line-cap': 'round', 'line-join': 'round' },
        paint: {
          'line-color': ['match', ['get', 'class'],
            ['motorway', 'motorway_link'], '#e892a2',
            ['trunk'], '#f9b29c',
            ['primary'], '#fcd6a4',
            ['secondary'], '#f7fabf',
            ['rail'], '#999999',
            ['path', 'track'], '#c8a07a',
            '#ffffff'],
          'line-width': ['interpolate', ['exponential', 1.6], ['zoom'],
            10, ['match', ['get', 'class'], ['motorway', 'trunk', 'primary'], 1.2, 0.5],
            14, ['match', ['get', 'class'], ['motorway', 'trunk', 'primary', 'secondary'], 4.5, ['path', 'track', 'rail'], 1, 2.5],
            17, ['match', ['get', 'class'], ['motorway', 'trunk', 'primary', 'secondary'], 16, ['path', 'track', 'rail'], 2.5, 10]],
          'line-dasharray': ['match', ['get', 'class'], ['path', 'track'], ['literal', [2, 1]], ['literal', [1, 0]]],
        },
      },
    ],
  };
}

async function loadStyle() {
  try {
    const style = await fetchJson('/styles/default.json');
    if (style && style.version === 8 && Array.isArray(style.layers)) {
      state.styleSource = 'server';
      return style;
    }
  } catch (e) {
    // fall through to the inline style
  }
  state.styleSource = 'fallback';
  return fallbackStyle();
}

async function loadTileJson() {
  try {
    return await fetchJson('/tiles.json');
  } catch {
    return null;
  }
}

function setupWorker() {
  // maplibre-gl 6 loads its worker from a separate module file; we ship it inside app.js
  // and hand MapLibre a same-origin blob: URL, so one script is enough.
  try {
    const blob = new Blob([workerSource], { type: 'text/javascript' });
    maplibregl.setWorkerUrl(URL.createObjectURL(blob));
  } catch (e) {
    setStatus('search-status', `map worker setup failed: ${errorText(e)}`, true);
  }
}

async function initMap() {
  setupWorker();
  const [tilejson, style] = await Promise.all([loadTileJson(), loadStyle()]);
  let center = DEFAULT_CENTER;
  let zoom = DEFAULT_ZOOM;
  if (tilejson && Array.isArray(tilejson.center) && tilejson.center.length >= 2) {
    center = [Number(tilejson.center[0]), Number(tilejson.center[1])];
    if (tilejson.center.length >= 3 && isFinite(Number(tilejson.center[2]))) zoom = Number(tilejson.center[2]);
  }
  const narrow = window.matchMedia('(max-width: 700px)').matches;
  const map = new maplibregl.Map({
    container: 'map',
    style,
    center,
    zoom,
    maxZoom: 19,
    attributionControl: false,
    canvasContextAttributes: { preserveDrawingBuffer: true },
  });
  state.map = map;
  // A small extract (the sample city) at the TileJSON zoom would be a speck: zoom in
  // to fit its bounds, keeping the TileJSON centre.
  if (tilejson && Array.isArray(tilejson.bounds) && tilejson.bounds.length === 4) {
    try {
      const b = tilejson.bounds;
      const cam = map.cameraForBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 20 });
      if (cam && typeof cam.zoom === 'number' && cam.zoom > zoom) {
        map.jumpTo({ center, zoom: Math.min(cam.zoom, 16) });
      }
    } catch { /* keep the TileJSON view */ }
  }
  map.addControl(new maplibregl.NavigationControl({ showCompass: true }), 'top-right');
  map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-left');
  map.addControl(new maplibregl.AttributionControl({
    compact: false,
    customAttribution: '© OpenStreetMap contributors',
  }), narrow ? 'top-left' : 'bottom-right');

  map.on('error', (ev) => {
    // Report map errors in the panel instead of the console (missing tiles outside the
    // data are normal and ignored).
    const err = ev && ev.error;
    const status = err && err.status;
    if (status === 404) return;
    const msg = errorText(err || 'map error');
    setStatus('search-status', `Map: ${msg}`, true);
  });

  map.on('load', () => {
    updateMapPadding();
    map.addSource('routes', { type: 'geojson', data: emptyFC() });
    map.addLayer({
      id: 'route-alternatives', type: 'line', source: 'routes',
      filter: ['!', ['get', 'primary']],
      layout: { 'line-cap': 'round', 'line-join': 'round' },
      paint: { 'line-color': '#7a8ca6', 'line-width': 5, 'line-opacity': 0.55 },
    });
    map.addLayer({
      id: 'route-primary-casing', type: 'line', source: 'routes',
      filter: ['get', 'primary'],
      layout: { 'line-cap': 'round', 'line-join': 'round' },
      paint: { 'line-color': '#0b3d91', 'line-width': 9, 'line-opacity': 0.9 },
    });
    map.addLayer({
      id: 'route-primary', type: 'line', source: 'routes',
      filter: ['get', 'primary'],
      layout: { 'line-cap': 'round', 'line-join': 'round' },
      paint: { 'line-color': '#3b82f6', 'line-width': 6 },
    });
    if (pendingRoutes) { drawRoutes(pendingRoutes); pendingRoutes = null; }
  });

  map.on('click', (ev) => {
    if (!state.pick) return;
    const value = `${ev.lngLat.lat.toFixed(6)},${ev.lngLat.lng.toFixed(6)}`;
    $(state.pick).value = value;
    setEndpointMarker(state.pick, [ev.lngLat.lng, ev.lngLat.lat]);
    setPick(null);
  });
  return map;
}

const emptyFC = () => ({ type: 'FeatureCollection', features: [] });

// ---------------------------------------------------------------- search

function clearBusinesses() {
  for (const m of state.businessMarkers) m.remove();
  state.businessMarkers = [];
  $('results').replaceChildren();
}

async function onSearch(ev) {
  ev.preventDefault();
  const text = $('search-input').value.trim();
  if (!text) { setStatus('search-status', 'Type an address or place.', true); return; }
  setStatus('search-status', 'Searching…');
  clearBusinesses();
  try {
    let lat; let lng; let label;
    const direct = parseLatLng(text);
    if (direct) {
      ({ lat, lng } = direct);
      label = text;
    } else {
      const geo = await fetchJson(`/v1/geocode?address=${encodeURIComponent(text)}`);
      if (geo.status !== 'OK' || !Array.isArray(geo.results) || geo.results.length === 0) {
        setStatus('search-status', `Nothing found for “${text}” (${geo.status || 'no results'}).`, true);
        return;
      }
      const first = geo.results[0];
      lat = first.geometry.location.lat;
      lng = first.geometry.location.lng;
      label = first.formatted_address || text;
    }
    state.map.flyTo({ center: [lng, lat], zoom: Math.max(state.map.getZoom(), 15) });
    await searchNearby(lat, lng, label);
  } catch (e) {
    setStatus('search-status', `Search failed: ${errorText(e)}`, true);
  }
}

async function searchNearby(lat, lng, label) {
  const radius = Number($('radius').value) || 500;
  const category = $('category').value.trim();
  const limit = 50;
  const params = new URLSearchParams({ latitude: String(lat), longitude: String(lng), radius: String(radius), limit: String(limit) });
  if (category) params.set('category', category);
  state.lastSearch = { latitude: lat, longitude: lng, radius, category, limit, label };
  setStatus('search-status', `Searching near ${label}…`);
  const data = await fetchJson(`/v1/search/nearby?${params}`);
  clearBusinesses();
  const list = $('results');
  const businesses = Array.isArray(data.businesses) ? data.businesses : [];
  for (const b of businesses) {
    const li = document.createElement('li');
    li.dataset.businessId = String(b.id);
    const name = document.createElement('div');
    name.textContent = b.name || '(unnamed)';
    const meta = document.createElement('div');
    meta.className = 'meta';
    meta.textContent = `${b.category || ''} · ${formatDistance(b.distance_m)}`;
    li.append(name, meta);

    const el = document.createElement('div');
    el.className = 'business-marker';
    el.dataset.businessId = String(b.id);
    el.title = `${b.name || ''} (${b.category || ''})`;
    const marker = new maplibregl.Marker({ element: el })
      .setLngLat([b.longitude, b.latitude])
      .setPopup(new maplibregl.Popup({ offset: 10, closeButton: false }).setText(`${b.name || '(unnamed)'} · ${b.category || ''}`))
      .addTo(state.map);
    state.businessMarkers.push(marker);
    const activate = () => {
      for (const x of list.querySelectorAll('li.active')) x.classList.remove('active');
      for (const m of state.businessMarkers) m.getElement().classList.remove('active');
      li.classList.add('active');
      el.classList.add('active');
    };
    li.addEventListener('click', () => {
      activate();
      state.map.flyTo({ center: [b.longitude, b.latitude], zoom: Math.max(state.map.getZoom(), 17) });
      if (!marker.getPopup().isOpen()) marker.togglePopup();
    });
    el.addEventListener('click', () => { activate(); li.scrollIntoView({ block: 'nearest' }); });
    list.appendChild(li);
  }
  const total = typeof data.total === 'number' ? data.total : businesses.length;
  setStatus('search-status', businesses.length
    ? `${label}: ${total} businesses within ${formatDistance(radius)}${total > businesses.length ? ` (nearest ${businesses.length} shown)` : ''}.`
    : `${label}: no businesses within ${formatDistance(radius)}${category ? ` in “${category}”` : ''}.`);
}

// ---------------------------------------------------------------- directions

let pendingRoutes = null;

function setPick(which) {
  state.pick = which;
  for (const k of ['origin', 'destination']) {
    $(`pick-${k}`).setAttribute('aria-pressed', String(which === k));
  }
  document.body.classList.toggle('picking', !!which);
  if (which) setStatus('route-status', `Click the map to set the ${which}.`);
}

function setEndpointMarker(which, lngLat) {
  if (state.endpointMarkers[which]) state.endpointMarkers[which].remove();
  delete state.endpointMarkers[which];
  if (!lngLat) return;
  const el = document.createElement('div');
  el.className = `endpoint-marker ${which}`;
  el.title = which;
  state.endpointMarkers[which] = new maplibregl.Marker({ element: el }).setLngLat(lngLat).addTo(state.map);
}

function drawRoutes(routes) {
  const map = state.map;
  const src = map && map.getSource('routes');
  if (!src) { pendingRoutes = routes; return; }
  // Alternatives first so the primary route is drawn on top.
  const features = routes.map((r, i) => ({
    type: 'Feature',
    properties: { primary: i === 0, index: i },
    geometry: { type: 'LineString', coordinates: decodePolyline(r.overview_polyline && r.overview_polyline.points ? r.overview_polyline.points : '') },
  })).filter((f) => f.geometry.coordinates.length >= 2);
  src.setData({ type: 'FeatureCollection', features });
  state.routesDrawn = features.length;
  const all = features.flatMap((f) => f.geometry.coordinates);
  if (all.length) {
    const bounds = all.reduce((b, c) => b.extend(c), new maplibregl.LngLatBounds(all[0], all[0]));
    map.fitBounds(bounds, { padding: 60, maxZoom: 17, duration: 600 });
  }
}

function clearRoutes() {
  const src = state.map && state.map.getSource('routes');
  if (src) src.setData(emptyFC());
  state.routesDrawn = 0;
  $('steps').replaceChildren();
  $('routes-summary').replaceChildren();
  setEndpointMarker('origin', null);
  setEndpointMarker('destination', null);
}

async function onRoute(ev) {
  ev.preventDefault();
  setPick(null);
  const origin = $('origin').value.trim();
  const destination = $('destination').value.trim();
  if (!origin || !destination) { setStatus('route-status', 'Enter an origin and a destination.', true); return; }
  const mode = $('mode').value;
  const params = new URLSearchParams({ origin, destination, mode, alternatives: 'true' });
  setStatus('route-status', 'Routing…');
  clearRoutes();
  try {
    const data = await fetchJson(`/v1/nav?${params}`);
    if (data.status !== 'OK' || !Array.isArray(data.routes) || data.routes.length === 0) {
      const why = { NOT_FOUND: 'a place could not be found', ZERO_RESULTS: 'no route found', INVALID_REQUEST: 'invalid request' }[data.status];
      setStatus('route-status', `No route: ${why || data.status || 'no routes'}${data.error_message ? ` (${data.error_message})` : ''}.`, true);
      return;
    }
    drawRoutes(data.routes);
    const first = data.routes[0];
    const legs = Array.isArray(first.legs) ? first.legs : [];
    if (legs.length) {
      const start = legs[0].start_location;
      const end = legs[legs.length - 1].end_location;
      if (start) setEndpointMarker('origin', [start.lng, start.lat]);
      if (end) setEndpointMarker('destination', [end.lng, end.lat]);
    }
    // Summary of every route.
    const summary = $('routes-summary');
    data.routes.forEach((r, i) => {
      const dist = (r.legs || []).reduce((s, l) => s + ((l.distance && l.distance.value) || 0), 0);
      const dur = (r.legs || []).reduce((s, l) => s + ((l.duration && l.duration.value) || 0), 0);
      const li = document.createElement('li');
      li.className = i === 0 ? 'primary' : 'alternative';
      li.dataset.routeIndex = String(i);
      li.textContent = `${i === 0 ? 'Route' : 'Alternative'}: via ${r.summary || '—'} `;
      const meta = document.createElement('span');
      meta.className = 'meta';
      meta.textContent = `${formatDistance(dist)}, ${Math.max(1, Math.round(dur / 60))} min`;
      li.appendChild(meta);
      summary.appendChild(li);
    });
    // Steps of the first route.
    const steps = $('steps');
    for (const leg of legs) {
      for (const step of leg.steps || []) {
        const li = document.createElement('li');
        if (step.maneuver) li.dataset.maneuver = step.maneuver;
        li.appendChild(sanitizedInstruction(step.html_instructions));
        const meta = document.createElement('div');
        meta.className = 'meta';
        meta.textContent = [step.distance && step.distance.text, step.duration && step.duration.text].filter(Boolean).join(' · ');
        li.appendChild(meta);
        if (step.start_location) {
          li.addEventListener('click', () => state.map.flyTo({ center: [step.start_location.lng, step.start_location.lat], zoom: Math.max(state.map.getZoom(), 17) }));
        }
        steps.appendChild(li);
      }
    }
    const leg0 = legs[0];
    setStatus('route-status', `${data.routes.length} route${data.routes.length > 1 ? 's' : ''}${leg0 && leg0.distance ? `; best ${legs.length > 1 ? 'first leg ' : ''}${leg0.distance.text}, ${leg0.duration ? leg0.duration.text : ''}` : ''}.`);
  } catch (e) {
    setStatus('route-status', `Route failed: ${errorText(e)}`, true);
  }
}

// ---------------------------------------------------------------- friends

function friendLabel(userId) {
  return `friend ${userId}`;
}

function upsertFriend(f) {
  const id = String(f.user_id);
  const lngLat = [Number(f.longitude), Number(f.latitude)];
  if (!isFinite(lngLat[0]) || !isFinite(lngLat[1])) return;
  let marker = state.friendMarkers.get(id);
  if (!marker) {
    const el = document.createElement('div');
    el.className = 'friend-marker';
    el.dataset.userId = id;
    el.dataset.testid = 'friend-marker';
    el.title = friendLabel(id);
    el.textContent = id.length <= 3 ? id : id.slice(-3);
    marker = new maplibregl.Marker({ element: el }).setLngLat(lngLat).addTo(state.map);
    state.friendMarkers.set(id, marker);
  } else {
    marker.setLngLat(lngLat);
  }
  state.friendPositions = { ...state.friendPositions, [id]: lngLat };
  state.friendDistances.set(id, f.distance_m);
  renderFriends();
}

function removeFriend(userId) {
  const id = String(userId);
  const marker = state.friendMarkers.get(id);
  if (marker) marker.remove();
  state.friendMarkers.delete(id);
  state.friendDistances.delete(id);
  const next = { ...state.friendPositions };
  delete next[id];
  state.friendPositions = next;
  renderFriends();
}

function clearFriends() {
  for (const id of [...state.friendMarkers.keys()]) removeFriend(id);
  $('friends').replaceChildren();
}

function renderFriends() {
  const list = $('friends');
  const items = [...state.friendDistances.entries()].sort((a, b) => (a[1] ?? Infinity) - (b[1] ?? Infinity));
  list.replaceChildren(...items.map(([id, d]) => {
    const li = document.createElement('li');
    li.dataset.userId = id;
    li.textContent = `${friendLabel(id)}: ${formatDistance(d) || 'distance unknown'}`;
    li.addEventListener('click', () => {
      const p = state.friendPositions[id];
      if (p) state.map.flyTo({ center: p });
    });
    return li;
  }));
}

function centreMessage(type) {
  const c = state.map.getCenter();
  return JSON.stringify({ type, latitude: c.lat, longitude: c.lng, timestamp: nowSeconds() });
}

function signOut(message) {
  if (state.locationTimer) clearInterval(state.locationTimer);
  state.locationTimer = null;
  const ws = state.socket;
  state.socket = null;
  state.friendsConnected = false;
  if (ws) {
    ws.onclose = null; ws.onerror = null; ws.onmessage = null;
    try { ws.close(1000, 'sign out'); } catch { /* ignore */ }
  }
  clearFriends();
  $('sign-in').textContent = 'Sign in';
  if (message !== undefined) setStatus('friends-status', message.text, message.error);
}

function onSignIn(ev) {
  ev.preventDefault();
  if (state.socket) { signOut({ text: 'Signed out.' }); return; }
  const token = $('token').value.trim();
  if (!token) { setStatus('friends-status', 'Paste a token first.', true); return; }
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  let ws;
  try {
    ws = new WebSocket(`${proto}//${location.host}/v1/ws/friends?token=${encodeURIComponent(token)}`);
  } catch (e) {
    setStatus('friends-status', `Cannot connect: ${errorText(e)}`, true);
    return;
  }
  state.socket = ws;
  let opened = false;
  $('sign-in').textContent = 'Sign out';
  setStatus('friends-status', 'Connecting…');
  ws.onopen = () => {
    opened = true;
    try { ws.send(centreMessage('init')); } catch { /* reported by onclose */ }
    state.friendsConnected = true;
    setStatus('friends-status', 'Connected. Sharing the map centre with friends.');
    state.locationTimer = setInterval(() => {
      if (ws.readyState === WebSocket.OPEN) {
        try { ws.send(centreMessage('location')); } catch { /* ignore */ }
      }
    }, LOCATION_INTERVAL_MS);
  };
  ws.onmessage = (msg) => {
    let data;
    try { data = JSON.parse(msg.data); } catch { return; }
    if (!data || typeof data !== 'object') return;
    switch (data.type) {
      case 'nearby_friends':
        for (const f of data.friends || []) upsertFriend(f);
        setStatus('friends-status', `Connected. ${(data.friends || []).length} friend(s) nearby.`);
        break;
      case 'friend_location':
        upsertFriend(data);
        break;
      case 'friend_left':
        removeFriend(data.user_id);
        break;
      case 'friend_request':
        setStatus('friends-status', `Friend request from ${data.name || data.user_id}.`);
        break;
      case 'friend_added':
        setStatus('friends-status', `${data.name || data.user_id} is now your friend.`);
        break;
      case 'error':
        setStatus('friends-status', `Server: ${data.detail || data.status || 'error'}`, true);
        break;
      default:
        break;
    }
  };
  ws.onerror = () => { /* details arrive with onclose */ };
  ws.onclose = (ev) => {
    if (state.socket !== ws) return;
    const why = opened
      ? `Disconnected${ev.code ? ` (${ev.code}${ev.reason ? `: ${ev.reason}` : ''})` : ''}.`
      : 'Could not connect: the token was refused or the server is unreachable.';
    signOut({ text: why, error: ev.code !== 1000 });
  };
}

// ---------------------------------------------------------------- panel

// On phones the panel is a bottom sheet over the map: keep the map's focus point above it.
function updateMapPadding() {
  const map = state.map;
  if (!map) return;
  const narrow = window.matchMedia('(max-width: 700px)').matches;
  const bottom = narrow ? Math.round($('panel').getBoundingClientRect().height) : 0;
  const current = map.getPadding();
  if (current.bottom !== bottom) map.setPadding({ top: 0, left: 0, right: 0, bottom });
}

function setupPanel() {
  const panel = $('panel');
  const toggle = $('panel-toggle');
  toggle.addEventListener('click', () => {
    const open = !panel.classList.contains('open');
    panel.classList.toggle('open', open);
    toggle.textContent = open ? 'Hide' : 'Show';
    toggle.setAttribute('aria-expanded', String(open));
    updateMapPadding();
  });
  window.addEventListener('resize', () => updateMapPadding());
  if (typeof ResizeObserver === 'function') new ResizeObserver(() => updateMapPadding()).observe(panel);
}

function start() {
  setupPanel();
  $('search-form').addEventListener('submit', (e) => { onSearch(e); });
  $('route-form').addEventListener('submit', (e) => { onRoute(e); });
  $('route-clear').addEventListener('click', () => { clearRoutes(); setStatus('route-status', ''); });
  $('pick-origin').addEventListener('click', () => setPick(state.pick === 'origin' ? null : 'origin'));
  $('pick-destination').addEventListener('click', () => setPick(state.pick === 'destination' ? null : 'destination'));
  $('friends-form').addEventListener('submit', onSignIn);
  window.addEventListener('unhandledrejection', (e) => {
    // Last resort: show, do not throw to the console.
    e.preventDefault();
    setStatus('search-status', `Unexpected error: ${errorText(e.reason)}`, true);
  });
  initMap().catch((e) => setStatus('search-status', `Map failed to start: ${errorText(e)}`, true));
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
