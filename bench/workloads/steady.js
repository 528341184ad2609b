// A steady service: builds a live set of small objects, then churns it for a fixed time.
// Usage: node --expose-gc steady.js LIVE_MIB SECONDS
// Prints a JSON line as it builds and on every tick of churn (the harness's progress heartbeat),
// then {"done": true}. Churn: every 100 ms tick replaces 2 % of the live set with new objects
// (old-generation garbage) and allocates short-lived request-like garbage (young generation).
const v8 = require('v8');
const liveMiB = Number(process.argv[2]);
const seconds = Number(process.argv[3]);
const MiB = 1024 * 1024;

function item(i) {
  return { id: i, name: 'item-' + i, score: i * 0.5, tags: [i & 7, i & 15] };
}

const live = [];
while (process.memoryUsage().heapUsed < liveMiB * MiB) {
  for (let k = 0; k < 50000; k++) live.push(item(live.length));
  console.log(JSON.stringify({ phase: 'building', objects: live.length }));
}
if (global.gc) global.gc();
const start = Date.now();
console.log(JSON.stringify({
  phase: 'built', objects: live.length,
  live_bytes: process.memoryUsage().heapUsed,
  heap_size_limit: v8.getHeapStatistics().heap_size_limit,
}));

let ticks = 0;
let sink = 0;
function tick() {
  const replace = Math.max(1, Math.floor(live.length * 0.02));
  for (let k = 0; k < replace; k++) {
    const j = Math.floor(Math.random() * live.length);
    live[j] = item(j);
  }
  for (let k = 0; k < 2000; k++) {
    const request = { path: '/api/' + k, headers: ['a', 'b', 'c'], body: new Array(16).fill(k) };
    sink += request.body.length;
  }
  ticks++;
  const elapsed = (Date.now() - start) / 1000;
  console.log(JSON.stringify({ phase: 'churn', ticks, elapsed }));
  if (elapsed >= seconds) {
    console.log(JSON.stringify({ done: true, ticks, sink }));
    process.exit(0);
  }
  setTimeout(tick, 100);
}
tick();
