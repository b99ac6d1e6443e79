// Copies the API's .proto files from the repository's proto/ into this
// package (proto/), so the published package is self-contained: the client
// loads them at run time and `gen-types` writes the TypeScript types from them.
const fs = require("fs");
const path = require("path");

const source = path.resolve(__dirname, "..", "..", "..", "proto");
const target = path.resolve(__dirname, "..", "proto");
const files = [
  "rtrec/v1/recommender.proto",
  "grpc/health/v1/health.proto",
  "google/rpc/status.proto",
  "google/rpc/error_details.proto",
];
for (const file of files) {
  const to = path.join(target, file);
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.copyFileSync(path.join(source, file), to);
}
console.log(`copied ${files.length} proto files into ${target}`);
