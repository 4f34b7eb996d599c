#!/usr/bin/env node
// ONNX Runtime (npm onnxruntime-node, CPU execution provider) on an ONNX model, timed like
// cpu_bench: warm-up runs, then the median of timed session.run() calls per batch size.
// Prints one JSON object per batch. compare_ort.sh installs the package and runs this.
//
//   node ort_bench.js --model m.onnx [--batches 1,8] [--threads 2] [--iterations 30] [--warmup 5]
'use strict';
const path = require('path');

function parseArgs(argv) {
  const args = {batches: '1,8', threads: 2, iterations: 30, warmup: 5,
                ortDir: path.join(__dirname, 'ort_node', 'node_modules', 'onnxruntime-node')};
  for (let i = 2; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!(key in args) && key !== 'model') throw new Error(`unknown option ${argv[i]}`);
    args[key] = argv[i + 1];
  }
  if (!args.model) throw new Error('--model is required');
  return args;
}

// Deterministic standard-normal inputs (Box-Muller over a 32-bit LCG), like cpu_bench's.
function randomNormal(n) {
  const out = new Float32Array(n);
  let state = 42;
  const uniform = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) + 1) / 4294967297;
  for (let i = 0; i < n; ++i) out[i] = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  return out;
}

async function main() {
  const args = parseArgs(process.argv);
  const ort = require(args.ortDir);
  const threads = Number(args.threads);
  const session = await ort.InferenceSession.create(args.model, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential',
    graphOptimizationLevel: 'all'});
  const inputName = session.inputNames[0];
  for (const batch of args.batches.split(',').map(Number)) {
    const x = new ort.Tensor('float32', randomNormal(batch * 3 * 224 * 224), [batch, 3, 224, 224]);
    for (let i = 0; i < Number(args.warmup); ++i) await session.run({[inputName]: x});
    const times = [];
    for (let i = 0; i < Number(args.iterations); ++i) {
      const start = process.hrtime.bigint();
      await session.run({[inputName]: x});
      times.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    times.sort((a, b) => a - b);
    const median = times[times.length >> 1];
    console.log(JSON.stringify({runtime: 'onnxruntime', version: require(path.join(args.ortDir, 'package.json')).version,
                                precision: 'fp32', threads, batch, median_ms: median,
                                images_per_s: batch * 1000 / median, iterations: Number(args.iterations)}));
  }
}

main().catch((e) => { console.error(`ort_bench: ${e.message}`); process.exit(1); });
