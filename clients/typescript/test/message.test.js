// Offline checks of the client (node --test), imported through the package's exports map.
import assert from "node:assert/strict";
import { test } from "node:test";
import { spawnSync } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import {
  OUTBOX_INSERT_SQL,
  PayloadError,
  YokedClient,
  addToOutbox,
  backoffDelay,
  buildMessage,
  parseUrls,
  queueArguments,
  validate,
} from "@yoked/actors-client";

const payload = {
  messageId: "0b6f3c52-3c0e-4f55-9a4b-7f1c2d9e8a10",
  content: "see you at the gym at 6?",
  senderId: "5d2e8f41-8a1b-4c7d-b3e2-1f0a9c8d7e6b",
};

test("message.sent becomes a Dramatiq message for moderation.moderate_message", () => {
  const message = buildMessage("message.sent", payload, { messageId: "m1", now: 42 });
  assert.deepEqual(message, {
    queue_name: "moderation",
    actor_name: "moderation.moderate_message",
    args: [],
    kwargs: payload,
    options: {},
    message_id: "m1",
    message_timestamp: 42,
  });
});

test("a bad payload names the field", () => {
  assert.throws(() => validate("message.sent", { ...payload, senderId: "x" }), (e) =>
    e instanceof PayloadError && e.field === "senderId");
  assert.throws(() => validate("message.sent", { ...payload, extra: 1 }), /extra/);
  const { content, ...missing } = payload;
  assert.throws(() => validate("message.sent", missing), /content: field required/);
});

test("idempotencyKey goes into the message options as idempotency_key", () => {
  const message = buildMessage("message.sent", payload, { idempotencyKey: "message.sent:abc" });
  assert.deepEqual(message.options, { idempotency_key: "message.sent:abc" });
  assert.throws(() => buildMessage("message.sent", payload, { idempotencyKey: "" }), /idempotencyKey/);
});

test("queue arguments are exactly the ones docs/wire-format.md lists per queue type", () => {
  const doc = readFileSync(new URL("../../../docs/wire-format.md", import.meta.url), "utf8");
  for (const queueType of ["classic", "quorum"]) {
    const row = doc.split("\n").find((line) => line.startsWith(`  | ${queueType} | \`<queue>\` |`));
    assert.ok(row, `no ${queueType} row in the doc`);
    const documented = Object.fromEntries(
      [...row.split("|")[3].matchAll(/`([\w-]+): ([^`]*)`/g)].map(([, key, value]) =>
        [key, JSON.parse(value.replaceAll("<queue>", "moderation"))]),
    );
    assert.deepEqual(queueArguments("moderation", queueType), documented);
  }
  assert.throws(() => queueArguments("moderation", /** @type {any} */ ("stream")), /queueType/);
});

test("broker URLs: an array or a comma-separated string, as RABBITMQ_URL", () => {
  assert.deepEqual(parseUrls("amqp://a:5672/, amqp://b:5672/,"), ["amqp://a:5672/", "amqp://b:5672/"]);
  assert.deepEqual(parseUrls(["amqp://a/"]), ["amqp://a/"]);
  assert.throws(() => parseUrls(""), /no RabbitMQ URL/);
});

test("reconnect backoff doubles and is capped", () => {
  for (let i = 0; i < 50; i += 1) {
    assert.ok(backoffDelay(0, 100, 5000) <= 100);
    assert.ok(backoffDelay(3, 100, 5000) >= 400 && backoffDelay(3, 100, 5000) <= 800);
    assert.ok(backoffDelay(40, 100, 5000) <= 5000);
  }
});

test("no node accepts: connect rejects naming how many nodes it tried", async () => {
  const server = createServer((socket) => socket.destroy()).listen(0, "127.0.0.1");
  await once(server, "listening");
  const url = `amqp://guest:guest@127.0.0.1:${server.address().port}/`;
  await assert.rejects(YokedClient.connect([url, url]), /no RabbitMQ node accepted a connection \(2 tried\)/);
  server.close();
});

test("the outbox helper inserts one row with the SQL the relay reads", async () => {
  const calls = [];
  const db = { query: async (text, values) => (calls.push([text, values]), { rows: [{ id: 7 }] }) };
  assert.equal(await addToOutbox(db, "message.sent", payload, { idempotencyKey: "k" }), "7");
  assert.deepEqual(calls, [[OUTBOX_INSERT_SQL, ["moderation.moderate_message", JSON.stringify(payload), "k"]]]);
  await assert.rejects(addToOutbox(db, "message.sent", { ...payload, senderId: "x" }), PayloadError);
  assert.equal(calls.length, 1);
});

test("types are generated from docs/schemas and the package type-checks (npm run check)", () => {
  const done = spawnSync("npm", ["run", "--silent", "check"], { cwd: new URL("..", import.meta.url), encoding: "utf8" });
  assert.equal(done.status, 0, done.stdout + done.stderr);
});
