// A Buffer-heavy app: holds BUFFER_MIB of Buffers (off the V8 heap, as request bodies, caches or
// streams do), then leaks on the heap until something stops it.
// Usage: node buffers.js BUFFER_MIB
const MiB = 1024 * 1024;
const held = [];
globalThis.heldBuffers = held; // reachable for the whole run, as a cache would be
for (let i = 0; i < Number(process.argv[2]); i++) held.push(Buffer.alloc(MiB, i & 0xff));
console.log(JSON.stringify({ phase: 'buffers', held_mib: held.length }));
require('../../tests/js/leak.js');
