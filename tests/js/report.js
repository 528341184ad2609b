// Prints what Node decided about its heap, as one JSON object.
const v8 = require('v8');
const fs = require('fs');
const status = Object.fromEntries(
  fs.readFileSync('/proc/self/status', 'utf8').split('\n')
    .filter((l) => /^(VmRSS|RssAnon|RssFile):/.test(l))
    .map((l) => { const [k, v] = l.split(':'); return [k, parseInt(v, 10) * 1024]; }));
console.log(JSON.stringify({
  version: process.version,
  heap_size_limit: v8.getHeapStatistics().heap_size_limit,
  node_options: process.env.NODE_OPTIONS ?? null,
  node_heap_options: process.env.NODE_HEAP_OPTIONS ?? null,
  status,
}));
