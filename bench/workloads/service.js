// A JSON API on node:http, the service benchmark's server (bench/service.py drives it with wrk).
// Usage: node service.js PORT LIVE_MIB ITEMS
//
// Start-up builds a cache of small records until the heap holds LIVE_MIB (the live set), then
// listens on 127.0.0.1:PORT. POST /render is the typical request: read the body into a Buffer,
// JSON.parse it, look ITEMS records up in the cache, render them (new objects: young-generation
// garbage), JSON.stringify into a Buffer with an ETag, and write one cache entry back (the cache's
// churn: old-generation garbage). GET /__mark starts a measurement window, GET /__report ends it
// (GC from perf_hooks, CPU from process.cpuUsage), GET /__exit stops the server.
// stdout: one JSON line per second (the harness's progress heartbeat) and on every phase change.
'use strict';
const http = require('http');
const crypto = require('crypto');
const v8 = require('v8');
const { PerformanceObserver, constants } = require('perf_hooks');

const port = Number(process.argv[2]);
const liveMiB = Number(process.argv[3]);
const items = Number(process.argv[4] || 20);
const MiB = 1024 * 1024;

function record(i) {
  return {
    id: i,
    sku: 'sku-' + i.toString(36),
    name: 'item number ' + i,
    price: (i % 997) / 10,
    stock: i % 113,
    tags: ['t' + (i & 7), 't' + (i & 31)],
    updated: 1700000000000 + i,
  };
}

const cache = [];
while (process.memoryUsage().heapUsed < liveMiB * MiB) {
  for (let k = 0; k < 50000; k++) cache.push(record(cache.length));
  console.log(JSON.stringify({ phase: 'building', records: cache.length }));
}

// GC accounting: every `gc` entry, by kind (Node's constants: minor = scavenge, major = mark-compact).
const gc = { scavenges: 0, mark_compacts: 0, incremental: 0, weak: 0, ms: 0, max_pause_ms: 0 };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const kind = entry.detail ? entry.detail.kind : entry.kind;
    if (kind === constants.NODE_PERFORMANCE_GC_MINOR) gc.scavenges++;
    else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) gc.mark_compacts++;
    else if (kind === constants.NODE_PERFORMANCE_GC_INCREMENTAL) gc.incremental++;
    else gc.weak++;
    gc.ms += entry.duration;
    if (entry.duration > gc.max_pause_ms) gc.max_pause_ms = entry.duration;
  }
}).observe({ entryTypes: ['gc'] });

let window = null;
let served = 0;
function mark() {
  for (const key of Object.keys(gc)) gc[key] = 0;
  served = 0;
  window = { cpu: process.cpuUsage(), start: process.hrtime.bigint() };
}
function report() {
  const cpu = process.cpuUsage(window.cpu);
  const elapsed = Number(process.hrtime.bigint() - window.start) / 1e9;
  const heap = v8.getHeapStatistics();
  return {
    ...gc,
    served,
    elapsed_s: elapsed,
    cpu_user_s: cpu.user / 1e6,
    cpu_system_s: cpu.system / 1e6,
    heap_size_limit: heap.heap_size_limit,
    heap_used: heap.used_heap_size,
    rss: process.memoryUsage().rss,
  };
}

function render(body) {
  const order = JSON.parse(body);
  const n = cache.length;
  const lines = [];
  let total = 0;
  for (let k = 0; k < order.count; k++) {
    const entry = cache[(order.seed * 7919 + k * 104729 + served) % n];
    const quantity = 1 + ((k + order.seed) % 5);
    const line = { ...entry, quantity, subtotal: Math.round(entry.price * quantity * 100) / 100, note: order.note };
    total += line.subtotal;
    lines.push(line);
  }
  const slot = (order.seed + served) % n; // write-through: the cache entry gets a new record
  cache[slot] = { ...record(slot), updated: Date.now() };
  return { customer: order.customer, currency: 'EUR', total, lines };
}

const server = http.createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/render') {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const out = Buffer.from(JSON.stringify(render(Buffer.concat(chunks).toString('utf8'))));
      const etag = crypto.createHash('sha1').update(out).digest('base64');
      served++;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': out.length, etag });
      res.end(out);
    });
    return;
  }
  const reply = (doc) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(doc));
  };
  if (req.url === '/__mark') {
    mark();
    reply({ ok: true });
  } else if (req.url === '/__report') {
    reply(report());
  } else if (req.url === '/__exit') {
    res.on('finish', () => process.exit(0));
    reply({ ok: true });
  } else {
    res.writeHead(404).end();
  }
});
server.keepAliveTimeout = 30000;
server.listen(port, '127.0.0.1', () => {
  mark();
  console.log(JSON.stringify({
    phase: 'listening', port, records: cache.length, items,
    live_bytes: process.memoryUsage().heapUsed,
    heap_size_limit: v8.getHeapStatistics().heap_size_limit,
  }));
});
setInterval(() => console.log(JSON.stringify({ phase: 'serving', served })), 1000);
