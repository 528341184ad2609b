// A pure heap leak: keeps every object it allocates until V8 (or the kernel) stops it.
// Prints the heap limit first, then progress, one JSON object per line.
const v8 = require('v8');
console.log(JSON.stringify({ heap_size_limit: v8.getHeapStatistics().heap_size_limit }));
const keep = [];
let rounds = 0;
function step() {
  for (let i = 0; i < 100; i++) {
    const chunk = new Array(1000);
    for (let j = 0; j < 1000; j++) chunk[j] = { j, s: 'x' + j };
    keep.push(chunk);
  }
  rounds++;
  if (rounds % 10 === 0) {
    const m = process.memoryUsage();
    console.log(JSON.stringify({ rounds, heap_used: m.heapUsed, rss: m.rss }));
  }
  setImmediate(step);
}
step();
