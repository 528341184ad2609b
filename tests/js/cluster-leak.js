// N cluster workers that all leak at once; the primary prints how each one ended.
// Usage: node cluster-leak.js N
const cluster = require('cluster');
if (cluster.isPrimary) {
  const n = Number(process.argv[2] || 2);
  let left = n;
  for (let i = 0; i < n; i++) cluster.fork();
  cluster.on('exit', (worker, code, signal) => {
    console.log(JSON.stringify({ event: 'worker_exit', code, signal }));
    if (--left === 0) process.exit(0);
  });
} else {
  require('./leak.js');
}
