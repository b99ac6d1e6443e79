#!/usr/bin/env node
// Records one impression and its feedback with rtrec-client, the way a
// service uses rtrec: ask for a slate, show it, report every shown item (1
// for the clicked one, 0 for the rest), and read the error details of a bad
// call.
//
//   node examples/record_impression.js [--target 127.0.0.1:50051] [--token T]
//
// Exits 0 when every step behaved as documented, 1 otherwise (CI runs it
// against a real server: clients.NodeExample).
// @ts-check
const { RtrecClient, RtrecError } = require("rtrec-client");

function flag(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

function fail(why) {
  console.error(`record_impression: ${why}`);
  process.exit(1);
}

async function main() {
  const user = flag("user", "example-user-node");
  const rtrec = new RtrecClient(flag("target", "127.0.0.1:50051"), {
    token: flag("token", process.env.RTREC_TOKEN),
    timeoutMs: 5000,
  });
  try {
    await rtrec.waitUntilServing(60000);
    console.log(`health: ${await rtrec.health()} / rtrec.v1.Recommender: ${await rtrec.health("rtrec.v1.Recommender")}`);

    const slate = await rtrec.recommend({ user_id: user, k: 5, query: "green tea" });
    console.log(`slate ${slate.request_id} from model v${slate.model_version}:`);
    for (const item of slate.items) {
      console.log(`  ${item.item_id.padEnd(24)} score ${item.score.toFixed(3)} propensity ${item.propensity.toFixed(3)}`);
    }
    if (slate.items.length !== 5) fail(`expected 5 items, got ${slate.items.length}`);

    const results = await rtrec.reportSlate(user, slate, new Set([slate.items[0].item_id]));
    const joined = results.filter((r) => r.joined).length;
    console.log(`reported ${results.length} shown items (1 clicked, ${results.length - 1} not): ${joined} joined`);
    if (joined !== results.length) fail("every report should join its impression");

    try {
      await rtrec.recommend({ user_id: "", k: 5 });
      fail("an empty user_id was accepted");
    } catch (error) {
      if (!(error instanceof RtrecError)) throw error;
      console.log(`a bad request: ${error.message}; field violations ${JSON.stringify(error.fieldViolations)}`);
      const named = error.fieldViolations.some((v) => v.field === "user_id");
      if (error.code !== 3 || !named) fail("expected INVALID_ARGUMENT with a BadRequest naming user_id");
    }

    const info = await rtrec.modelInfo();
    const metrics = new Map(info.metrics.map((m) => [m.name, m.value]));
    console.log(`server: model v${info.model_version}, ${info.impressions_logged} impressions logged, ` +
                `${info.impressions_joined} feedback joined (${metrics.size} metrics)`);
    if ((metrics.get("rtrec_impressions_joined_total") ?? 0) < results.length) fail("joins not counted");
    console.log("ok");
  } finally {
    rtrec.close();
  }
}

main().catch((error) => fail(error instanceof Error ? error.message : String(error)));
