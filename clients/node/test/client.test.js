// Unit tests of rtrec-client's retries and error decoding, without a server
// (the example runs against a real one: clients.NodeExample). `npm test`
// after `npm run build`.
const test = require("node:test");
const assert = require("node:assert");
const path = require("path");
const grpc = require("@grpc/grpc-js");
const protobuf = require("protobufjs");
const { RtrecClient, RtrecError, toRtrecError } = require("..");

const root = new protobuf.Root();
root.resolvePath = (_origin, target) =>
  target.startsWith("google/protobuf/") ? target : path.join(__dirname, "..", "proto", target);
root.loadSync(["google/rpc/status.proto", "google/rpc/error_details.proto"], { keepCase: true });

function pack(name, value) {
  const type = root.lookupType(name);
  return { type_url: `type.googleapis.com/${name}`, value: type.encode(type.create(value)).finish() };
}

// A grpc-js ServiceError with rtrec's google.rpc details.
function refusal(code, reason, { retryMs, violations } = {}) {
  const details = [pack("google.rpc.ErrorInfo", { reason, domain: "rtrec.v1" })];
  if (retryMs !== undefined) {
    details.push(pack("google.rpc.RetryInfo", {
      retry_delay: { seconds: Math.floor(retryMs / 1000), nanos: (retryMs % 1000) * 1e6 } }));
  }
  if (violations) details.push(pack("google.rpc.BadRequest", { field_violations: violations }));
  const status = root.lookupType("google.rpc.Status");
  const metadata = new grpc.Metadata();
  metadata.set("grpc-status-details-bin",
               Buffer.from(status.encode(status.create({ code, message: "refused", details })).finish()));
  return Object.assign(new Error("refused"), { code, details: "refused", metadata });
}

// Fails with `errors` in turn, then answers.
function fakeMethod(errors, answer) {
  const calls = [];
  const method = (request, _metadata, options, callback) => {
    calls.push({ request, options });
    const error = errors.shift();
    setImmediate(() => (error ? callback(error) : callback(null, answer)));
  };
  return { method, calls };
}

test("decodes the reason, the retry delay and the field violations", () => {
  const bad = toRtrecError(refusal(grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT",
                                   { violations: [{ field: "k", description: "must not be negative" }] }));
  assert.ok(bad instanceof RtrecError);
  assert.strictEqual(bad.reason, "INVALID_ARGUMENT");
  assert.deepStrictEqual(bad.fieldViolations, [{ field: "k", description: "must not be negative" }]);
  assert.strictEqual(bad.retryDelaySeconds, undefined);
  assert.strictEqual(bad.retryable, false);
  const full = toRtrecError(refusal(grpc.status.RESOURCE_EXHAUSTED, "QUEUE_FULL", { retryMs: 1250 }));
  assert.strictEqual(full.retryDelaySeconds, 1.25);
  assert.strictEqual(full.retryable, true);
});

test("retries a refusal with RetryInfo, then answers", async () => {
  const waits = [];
  const rtrec = new RtrecClient("127.0.0.1:1", { timeoutMs: 5000, sleep: async (ms) => { waits.push(ms); } });
  const overloaded = () => refusal(grpc.status.RESOURCE_EXHAUSTED, "OVERLOADED", { retryMs: 300 });
  const { method, calls } = fakeMethod([overloaded(), overloaded()], { request_id: "r1", items: [] });
  const answer = await rtrec["call"](method, { user_id: "u" });
  assert.strictEqual(answer.request_id, "r1");
  assert.strictEqual(calls.length, 3);
  assert.strictEqual(waits.length, 2);
  assert.ok(waits.every((ms) => ms >= 300), `waited at least the server's delay: ${waits}`);
  rtrec.close();
});

test("does not retry bad requests or a full catalog", async () => {
  const rtrec = new RtrecClient("127.0.0.1:1");
  for (const [code, reason] of [[grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT"],
                                [grpc.status.FAILED_PRECONDITION, "CATALOG_FULL"]]) {
    const { method, calls } = fakeMethod([refusal(code, reason)], {});
    await assert.rejects(rtrec["call"](method, {}), (e) => e instanceof RtrecError && e.reason === reason);
    assert.strictEqual(calls.length, 1);
  }
  rtrec.close();
});

test("gives up when the delay would pass the deadline", async () => {
  const rtrec = new RtrecClient("127.0.0.1:1", { timeoutMs: 500 });
  const { method, calls } = fakeMethod(
    [refusal(grpc.status.RESOURCE_EXHAUSTED, "LEARNER_BEHIND", { retryMs: 5000 })], {});
  await assert.rejects(rtrec["call"](method, {}), (e) => e.reason === "LEARNER_BEHIND");
  assert.strictEqual(calls.length, 1);
  rtrec.close();
});
