// A worker thread of `kernmod modinfo` (started by modinfo-parallel.ts): takes runs of arguments from
// the shared counter and sends back what each prints. It decodes .ko.xz with liblzma like the main
// thread does, when that addon was built.
import { parentPort, workerData } from 'node:worker_threads';
import { installModinfoXz } from './modinfo-xz.js';
import { workerLoop, type WorkerTask } from './modinfo-parallel.js';

installModinfoXz();
await workerLoop(workerData as WorkerTask, (m) => parentPort!.postMessage(m));
