import { measureThroughEdgeHub } from './edge.js';
process.on('exit', (c) => console.error('exit', c));
try {
  console.log(await measureThroughEdgeHub(2000));
} catch (e) {
  console.error('failed', e);
}
