// Development server: serves dist/ at / and /app/*, proxies everything else (including the
// /v1/ws/friends WebSocket upgrade) to a geostack server.
//   GEOSTACK_UPSTREAM=http://127.0.0.1:18090 PORT=18091 node dev-server.mjs
// Absolute upstream URLs inside /tiles.json and /styles/* are rewritten to this server's
// origin, so the browser only ever talks to one origin.
import http from 'node:http';
import net from 'node:net';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const upstream = new URL(process.env.GEOSTACK_UPSTREAM || 'http://127.0.0.1:8080');
const port = Number(process.env.PORT || 18091);
const host = process.env.HOST || '127.0.0.1';

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

async function serveFile(res, file) {
  try {
    const body = await readFile(path.join(here, 'dist', file));
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] || 'application/octet-stream', 'cache-control': 'no-cache' });
    res.end(body);
  } catch {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found');
  }
}

function proxy(req, res) {
  const rewrite = req.url === '/tiles.json' || req.url.startsWith('/tiles.json?') || req.url.startsWith('/styles/');
  const headers = { ...req.headers, host: upstream.host };
  if (rewrite) headers['accept-encoding'] = 'identity';
  const up = http.request({ hostname: upstream.hostname, port: upstream.port || 80, method: req.method, path: req.url, headers }, (ur) => {
    if (!rewrite) {
      res.writeHead(ur.statusCode, ur.headers);
      ur.pipe(res);
      return;
    }
    const chunks = [];
    ur.on('data', (c) => chunks.push(c));
    ur.on('end', () => {
      const self = `http://${req.headers.host}`;
      const body = Buffer.from(Buffer.concat(chunks).toString('utf8').split(upstream.origin).join(self));
      const h = { ...ur.headers, 'content-length': String(body.length) };
      delete h.etag;
      res.writeHead(ur.statusCode, h);
      res.end(body);
    });
  });
  up.on('error', (e) => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/problem+json' });
    res.end(JSON.stringify({ type: 'about:blank', title: 'Bad Gateway', status: 502, detail: `upstream: ${e.message}` }));
  });
  req.pipe(up);
}

const server = http.createServer((req, res) => {
  const p = req.url.split('?')[0];
  if ((req.method === 'GET' || req.method === 'HEAD') && (p === '/' || p === '/index.html')) return serveFile(res, 'index.html');
  if ((req.method === 'GET' || req.method === 'HEAD') && (p === '/app/app.js' || p === '/app/app.css')) return serveFile(res, p.slice(5));
  return proxy(req, res);
});

// WebSocket (and any other upgrade): replay the request head to the upstream and splice sockets.
server.on('upgrade', (req, socket, head) => {
  const up = net.connect(Number(upstream.port || 80), upstream.hostname, () => {
    let raw = `${req.method} ${req.url} HTTP/1.1\r\n`;
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i];
      raw += `${name}: ${name.toLowerCase() === 'host' ? upstream.host : req.rawHeaders[i + 1]}\r\n`;
    }
    up.write(`${raw}\r\n`);
    if (head && head.length) up.write(head);
    up.pipe(socket);
    socket.pipe(up);
  });
  const close = () => { up.destroy(); socket.destroy(); };
  up.on('error', close);
  socket.on('error', close);
});

server.listen(port, host, () => console.log(`dev server on http://${host}:${port} -> ${upstream.origin}`));
