// Offline checks of the client (node --test): message shape and validation.
import assert from "node:assert/strict";
import { test } from "node:test";
import { PayloadError, buildMessage, validate } from "../index.js";

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
