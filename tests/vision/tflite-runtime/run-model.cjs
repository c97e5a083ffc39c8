// Runs a float32 TFLite model with the TensorFlow Lite runtime itself (tfjs-tflite's WebAssembly
// build of TFLite, not its browser loader) and writes the raw outputs, so a test can compare the
// OpenCV net CareGate converts from the same file against what TFLite computes.
//
//   node run-model.cjs MODEL.tflite INPUT.f32 OUTPUT.f32
//
// INPUT holds N inputs back to back, each in the model's own layout (NHWC float32, little-endian)
// with the model's batch dimension replaced by N; OUTPUT gets N outputs back to back. The model's
// fixed batch is filled by repeating the last input. Exits 1 with a message on any problem.
'use strict';
const fs = require('fs');
const path = require('path');

const wasmDir = path.join(__dirname, 'node_modules/@tensorflow/tfjs-tflite/wasm/');

async function main() {
  const [modelPath, inputPath, outputPath] = process.argv.slice(2);
  if (!outputPath) throw new Error('usage: node run-model.cjs MODEL.tflite INPUT.f32 OUTPUT.f32');
  if (!fs.existsSync(wasmDir + 'tflite_web_api_cc.wasm'))
    throw new Error(`${wasmDir} is missing: run scripts/setup (npm ci in ${__dirname})`);
  // The plain build: no SIMD or threads, so the result does not depend on the machine's features.
  const factory = require(wasmDir + 'tflite_web_api_cc.js');
  const tfl = await factory({
    locateFile: (f) => wasmDir + f,
    wasmBinary: fs.readFileSync(wasmDir + 'tflite_web_api_cc.wasm'),
    print: (s) => process.stderr.write(s + '\n'),
    printErr: (s) => process.stderr.write(s + '\n'),
  });
  const model = new Uint8Array(fs.readFileSync(modelPath));
  const at = tfl._malloc(model.length);
  tfl.HEAPU8.set(model, at);
  const created = tfl.TFLiteWebModelRunner.CreateFromBufferAndOptions(at, model.length, {
    numThreads: 1,
    enableProfiling: false,
    maxProfilingBufferEntries: 1024,
  });
  if (!created.ok()) throw new Error(`TFLite refused ${modelPath}: ${created.errorMessage()}`);
  const runner = created.value();
  const ins = runner.GetInputs();
  if (ins.size() !== 1) throw new Error(`${modelPath}: ${ins.size()} inputs, expected 1`);
  const input = ins.get(0);
  if (input.dataType !== 'float32') throw new Error(`${modelPath}: input is ${input.dataType}`);
  const shape = input.shape.split(',').map(Number);
  const batch = shape[0];
  const perInput = shape.slice(1).reduce((a, b) => a * b, 1);

  const raw = fs.readFileSync(inputPath);
  const all = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
  if (all.length === 0 || all.length % perInput !== 0)
    throw new Error(`${inputPath}: ${all.length} floats is not a whole number of ${perInput}-float inputs`);
  const n = all.length / perInput;

  const results = [];
  for (let first = 0; first < n; first += batch) {
    const slot = input.data();  // a view of the runtime's input tensor
    for (let b = 0; b < batch; ++b) {
      const i = Math.min(first + b, n - 1);
      slot.set(all.subarray(i * perInput, (i + 1) * perInput), b * perInput);
    }
    if (!runner.Infer()) throw new Error(`TFLite failed to run ${modelPath}`);
    const output = runner.GetOutputs().get(0);
    const out = output.data();
    const perOutput = out.length / batch;
    for (let b = 0; b < batch && first + b < n; ++b)
      results.push(Float32Array.from(out.subarray(b * perOutput, (b + 1) * perOutput)));
    if (first === 0)
      process.stderr.write(`run-model: input ${input.shape} -> output ${output.name} ${output.shape}\n`);
  }
  const bytes = Buffer.concat(results.map((r) => Buffer.from(r.buffer)));
  fs.writeFileSync(outputPath, bytes);
}

main().catch((e) => {
  process.stderr.write(`run-model: ${e.message}\n`);
  process.exit(1);
});
