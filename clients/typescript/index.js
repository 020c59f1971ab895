// @ts-check
/**
 * Emit Yoked events to the yoked-actors workers, from Node.js / TypeScript, without Python.
 *
 * An event on the wire is a Dramatiq message for the event's actor whose `kwargs` are the
 * event's camelCase payload (docs/wire-format.md in the repository, generated from the Python
 * schemas; docs/schemas/message.sent.json is the payload's JSON Schema). This module validates
 * the payload the way the workers will, builds that message and publishes it persistently, with
 * publisher confirms: `emit()` resolves once RabbitMQ has the message.
 *
 * @example
 *   import { YokedClient } from "@yoked/actors-client";
 *   const client = await YokedClient.connect(process.env.RABBITMQ_URL);
 *   const id = await client.emit("message.sent", { messageId, content, senderId });
 *   await client.close();
 */

import { randomUUID } from "node:crypto";
import amqp from "amqplib";

/** Every event the workers handle: its actor and queue (docs/wire-format.md). */
export const EVENTS = Object.freeze({
  "message.sent": Object.freeze({
    actor: "moderation.moderate_message",
    queue: "moderation",
    fields: Object.freeze(["messageId", "content", "senderId"]),
  }),
});

/** Longest `content` the schema accepts (characters). */
export const MAX_CONTENT_LENGTH = 10000;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A payload the workers would reject; `field` names the first bad field. */
export class PayloadError extends Error {
  /** @param {string} field @param {string} problem */
  constructor(field, problem) {
    super(`${field}: ${problem}`);
    this.name = "PayloadError";
    this.field = field;
  }
}

/**
 * Check a payload against its event's schema (the same rules as the Python workers).
 * Throws PayloadError naming the field; never includes the value (it may be personal).
 * @param {string} event
 * @param {Record<string, unknown>} payload
 */
export function validate(event, payload) {
  const spec = EVENTS[/** @type {keyof typeof EVENTS} */ (event)];
  if (!spec) throw new PayloadError("event", `unknown event; known: ${Object.keys(EVENTS).join(", ")}`);
  if (payload === null || typeof payload !== "object" || Array.isArray(payload)) {
    throw new PayloadError("payload", "must be an object");
  }
  for (const key of Object.keys(payload)) {
    if (!spec.fields.includes(key)) throw new PayloadError(key, "extra fields are not permitted");
  }
  for (const key of spec.fields) {
    if (!(key in payload)) throw new PayloadError(key, "field required");
  }
  for (const key of ["messageId", "senderId"]) {
    if (typeof payload[key] !== "string" || !UUID.test(/** @type {string} */ (payload[key]))) {
      throw new PayloadError(key, "must be a UUID string");
    }
  }
  if (typeof payload.content !== "string") throw new PayloadError("content", "must be a string");
  if ([...payload.content].length > MAX_CONTENT_LENGTH) {
    throw new PayloadError("content", `must have at most ${MAX_CONTENT_LENGTH} characters`);
  }
}

/**
 * The Dramatiq message for an event (validated), as published.
 * @param {string} event
 * @param {Record<string, unknown>} payload
 * @param {{ messageId?: string, now?: number }} [options]
 */
export function buildMessage(event, payload, options = {}) {
  validate(event, payload);
  const spec = EVENTS[/** @type {keyof typeof EVENTS} */ (event)];
  return {
    queue_name: spec.queue,
    actor_name: spec.actor,
    args: [],
    kwargs: { ...payload },
    options: {},
    message_id: options.messageId ?? randomUUID(),
    message_timestamp: options.now ?? Date.now(),
  };
}

/** The queue arguments Dramatiq declares; declaring with others fails (PRECONDITION_FAILED). */
export function queueArguments(queue) {
  return { "x-dead-letter-exchange": "", "x-dead-letter-routing-key": `${queue}.XQ` };
}

export class YokedClient {
  /** @param {any} connection @param {any} channel */
  constructor(connection, channel) {
    this.connection = connection;
    this.channel = channel;
    /** @type {Set<string>} */
    this.declared = new Set();
  }

  /**
   * Connect with publisher confirms.
   * @param {string} url amqp:// URL (vhost included)
   */
  static async connect(url) {
    const connection = await amqp.connect(url);
    const channel = await connection.createConfirmChannel();
    return new YokedClient(connection, channel);
  }

  /**
   * Validate, publish and wait for RabbitMQ's confirm. Resolves to the message id.
   * Throws PayloadError (nothing published) for a bad payload.
   * @param {string} event
   * @param {Record<string, unknown>} payload
   * @param {{ messageId?: string }} [options] reuse a message id when retrying a send
   */
  async emit(event, payload, options = {}) {
    const message = buildMessage(event, payload, options);
    const queue = message.queue_name;
    if (!this.declared.has(queue)) {
      // Same arguments as the workers, so a message sent before any worker started is kept.
      await this.channel.assertQueue(queue, { durable: true, arguments: queueArguments(queue) });
      this.declared.add(queue);
    }
    this.channel.sendToQueue(queue, Buffer.from(JSON.stringify(message), "utf8"), {
      persistent: true,
      contentType: "application/json",
      messageId: message.message_id,
    });
    await this.channel.waitForConfirms();
    return message.message_id;
  }

  async close() {
    await this.channel.close();
    await this.connection.close();
  }
}
