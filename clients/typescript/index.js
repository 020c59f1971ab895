// @ts-check
/**
 * Emit Yoked events to the yoked-actors workers, from Node.js / TypeScript, without Python.
 *
 * An event on the wire is a Dramatiq message for the event's actor whose `kwargs` are the
 * event's camelCase payload (docs/wire-format.md in the repository, generated from the Python
 * schemas; docs/schemas/message.sent.json is the payload's JSON Schema). This module validates
 * the payload the way the workers will, builds that message and publishes it persistently.
 *
 * `emit()` resolves only once RabbitMQ confirmed the message (a per-message publisher confirm);
 * it rejects with a `NotSentError` ("not sent: ...") on a nack, a timeout, a lost connection or
 * an unroutable message. A rejected promise means "not sent": send again with the same
 * `messageId` (the jobs are idempotent). The client keeps one connection to one of the listed
 * nodes and, when it drops, reconnects in the background with a capped exponential backoff,
 * moving on to the next node each attempt. It never lets an `error` event go unhandled.
 *
 * @example
 *   import { YokedClient } from "@yoked/actors-client";
 *   const client = await YokedClient.connect(process.env.RABBITMQ_URL);
 *   const id = await client.emit("message.sent", { messageId, content, senderId });
 *   await client.close();
 */

import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
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

/** Quorum queues: set high on purpose (docs/wire-format.md). */
const DELIVERY_LIMIT = 1000000;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A payload the workers would reject; `field` names the first bad field. Nothing was sent. */
export class PayloadError extends Error {
  /** @param {string} field @param {string} problem */
  constructor(field, problem) {
    super(`${field}: ${problem}`);
    this.name = "PayloadError";
    this.field = field;
  }
}

/**
 * The message was not sent (no confirm): `reason` is one of "timeout", "nack", "connection",
 * "unroutable", "queue", "closed". Send again with the same `messageId`.
 */
export class NotSentError extends Error {
  /** @param {string} reason @param {string} detail @param {string | undefined} messageId */
  constructor(reason, detail, messageId) {
    super(`not sent: ${detail}`);
    this.name = "NotSentError";
    this.reason = reason;
    this.messageId = messageId;
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
 * @param {{ messageId?: string, now?: number, idempotencyKey?: string }} [options]
 */
export function buildMessage(event, payload, options = {}) {
  validate(event, payload);
  const spec = EVENTS[/** @type {keyof typeof EVENTS} */ (event)];
  /** @type {Record<string, unknown>} */
  const messageOptions = {};
  if (options.idempotencyKey !== undefined) {
    if (typeof options.idempotencyKey !== "string" || options.idempotencyKey === "") {
      throw new PayloadError("idempotencyKey", "must be a non-empty string");
    }
    messageOptions.idempotency_key = options.idempotencyKey;
  }
  return {
    queue_name: spec.queue,
    actor_name: spec.actor,
    args: [],
    kwargs: { ...payload },
    options: messageOptions,
    message_id: options.messageId ?? randomUUID(),
    message_timestamp: options.now ?? Date.now(),
  };
}

/**
 * The arguments the workers declare `queue` with, for the deployment's queue type
 * (`RABBITMQ_QUEUE_TYPE`); declaring with others fails with PRECONDITION_FAILED.
 * @param {string} queue
 * @param {"classic" | "quorum"} [queueType]
 */
export function queueArguments(queue, queueType = "classic") {
  const deadLetters = { "x-dead-letter-exchange": "", "x-dead-letter-routing-key": `${queue}.XQ` };
  if (queueType === "classic") return deadLetters;
  if (queueType === "quorum") {
    return { "x-queue-type": "quorum", "x-delivery-limit": DELIVERY_LIMIT, ...deadLetters };
  }
  throw new PayloadError("queueType", "must be 'classic' or 'quorum'");
}

/**
 * Broker URLs from an array or a comma-separated string (as `RABBITMQ_URL` on the Python side).
 * @param {string | string[] | undefined} urls
 */
export function parseUrls(urls) {
  const list = (Array.isArray(urls) ? urls : String(urls ?? "").split(","))
    .map((u) => u.trim())
    .filter((u) => u !== "");
  if (list.length === 0) throw new TypeError("no RabbitMQ URL given (an array or a comma-separated string)");
  return list;
}

/** Host and port of a URL, never its credentials (for events and errors). */
function nodeName(url) {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || 5672}`;
  } catch {
    return "(unparseable URL)";
  }
}

/** The reconnect delay before attempt `attempt` (0-based): doubling, capped, with jitter. */
export function backoffDelay(attempt, minMs, maxMs) {
  const base = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  return Math.round(base / 2 + (Math.random() * base) / 2);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `client.events` (an EventEmitter, for logs and metrics; none is named "error", so none can
 * crash the process):
 * `connected` (node), `disconnected` (node, error message), `reconnecting` (attempt, delay ms),
 * `connect-failed` (node, error message).
 */
export class YokedClient {
  /**
   * @param {string[]} urls
   * @param {import("./index.js").ClientOptions} options
   */
  constructor(urls, options = {}) {
    /** Notifications for logs and metrics (see above). */
    this.events = new EventEmitter();
    this.urls = urls;
    this.queueType = options.queueType ?? "classic";
    queueArguments("q", this.queueType); // fail fast on a bad queue type
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.minBackoffMs = options.minBackoffMs ?? 100;
    this.maxBackoffMs = options.maxBackoffMs ?? 5000;
    this.heartbeatSeconds = options.heartbeatSeconds ?? 10;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 3000;
    this.declareQueues = options.declareQueues ?? true;
    /** @type {any} */ this.connection = null;
    /** @type {any} */ this.channel = null;
    /** @type {Promise<any> | null} */ this.opening = null;
    this.next = 0;
    this.closed = false;
    /** @type {Set<string>} */ this.declared = new Set();
    /** @type {Set<string>} */ this.returned = new Set();
    /** @type {Set<Promise<unknown>>} */ this.inFlight = new Set();
    /** @type {WeakMap<object, Map<string, Promise<unknown>>>} per channel: queue declarations */
    this.declaring = new WeakMap();
    /** @type {WeakMap<object, Set<() => void>>} per channel: emits waiting for a confirm */
    this.unconfirmed = new WeakMap();
    /** @type {Set<(error: Error) => void>} */ this.waiters = new Set();
    this.lastError = "not connected yet";
  }

  /**
   * Connect to the first node that accepts (each listed node tried once), with publisher
   * confirms. Later connection losses are repaired in the background.
   * @param {string | string[]} urls amqp:// URL(s), vhost included; an array or comma-separated
   * @param {import("./index.js").ClientOptions} [options]
   */
  static async connect(urls, options = {}) {
    const client = new YokedClient(parseUrls(urls), options);
    let lastError = "";
    for (let tried = 0; tried < client.urls.length; tried += 1) {
      try {
        await client.open();
        return client;
      } catch (error) {
        lastError = /** @type {Error} */ (error).message;
      }
    }
    throw new Error(`no RabbitMQ node accepted a connection (${client.urls.length} tried): ${lastError}`);
  }

  /** Open a connection to the next node and a confirm channel on it. */
  async open() {
    const url = this.urls[this.next % this.urls.length];
    this.next += 1;
    const node = nodeName(url);
    let connection;
    try {
      connection = await amqp.connect(url, {
        heartbeat: this.heartbeatSeconds,
        timeout: this.connectTimeoutMs,
      });
    } catch (error) {
      this.lastError = `${node}: ${/** @type {Error} */ (error).message}`;
      this.events.emit("connect-failed", node, /** @type {Error} */ (error).message);
      throw error;
    }
    // 'error' is always followed by 'close'; the listener only keeps it from being unhandled.
    connection.on("error", (/** @type {Error} */ error) => {
      this.lastError = `${node}: ${error.message}`;
    });
    connection.on("close", (/** @type {Error | undefined} */ error) => {
      if (this.connection !== connection) return;
      this.connection = null;
      this.channel = null;
      this.declared.clear();
      const why = error?.message ?? "connection closed";
      this.lastError = `${node}: ${why}`;
      this.events.emit("disconnected", node, why);
      if (!this.closed) void this.reconnect();
    });
    if (this.closed) {
      // close() was called while this connection was being opened: do not keep it.
      await connection.close().catch(() => {});
      throw new Error("the client is closed");
    }
    this.connection = connection;
    try {
      await this.openChannel();
    } catch (error) {
      this.connection = null;
      await connection.close().catch(() => {});
      throw error;
    }
    this.events.emit("connected", node);
    return connection;
  }

  /** A confirm channel on the current connection, with its listeners. */
  async openChannel() {
    const connection = this.connection;
    const channel = await connection.createConfirmChannel();
    channel.on("error", (/** @type {Error} */ error) => {
      this.lastError = error.message;
    });
    /** @type {Set<() => void>} */
    const unconfirmed = new Set();
    this.unconfirmed.set(channel, unconfirmed);
    channel.on("close", () => {
      if (this.channel === channel) this.channel = null;
      for (const lost of unconfirmed) lost();
    });
    // With `mandatory`, an unroutable message comes back before its confirm: not sent.
    channel.on("return", (/** @type {any} */ message) => {
      if (message.properties.messageId) this.returned.add(message.properties.messageId);
    });
    this.channel = channel;
    for (const wake of this.waiters) wake(/** @type {any} */ (null));
    return channel;
  }

  /**
   * Replace a channel that got a nack with a fresh one for the next emits. A channel that
   * published to a quorum queue while its leader was down keeps getting nacks from the broker
   * after a new leader is elected (RabbitMQ 3.10, measured); a new channel publishes at once.
   * @param {any} channel
   */
  retireChannel(channel) {
    if (this.channel !== channel) return;
    this.channel = null;
    channel.close().catch(() => {});
  }

  /** Reconnect until it works or the client is closed: next node each time, capped backoff. */
  async reconnect() {
    for (let attempt = 0; !this.closed && !this.connection; attempt += 1) {
      const delay = backoffDelay(attempt, this.minBackoffMs, this.maxBackoffMs);
      this.events.emit("reconnecting", attempt + 1, delay);
      await sleep(delay);
      if (this.closed || this.connection) return;
      try {
        await this.open();
      } catch {
        // recorded in lastError; try the next node
      }
    }
  }

  /**
   * A usable channel, waiting for a reconnect until `deadline` (epoch ms).
   * @param {number} deadline
   */
  async usableChannel(deadline) {
    while (!this.closed) {
      if (this.channel) return this.channel;
      if (this.connection) {
        // The channel closed (e.g. a refused declaration) but the connection lives: reopen.
        this.opening ??= this.openChannel().finally(() => {
          this.opening = null;
        });
        try {
          return await this.opening;
        } catch (error) {
          this.lastError = /** @type {Error} */ (error).message;
        }
      }
      const left = deadline - Date.now();
      if (left <= 0) break;
      await new Promise((resolve) => {
        const timer = setTimeout(done, Math.min(left, 250));
        function done() {
          clearTimeout(timer);
          waiters.delete(done);
          resolve(undefined);
        }
        const waiters = this.waiters;
        waiters.add(done);
      });
    }
    return null;
  }

  /**
   * Validate, publish, and wait for RabbitMQ's confirm of this message. Resolves to the
   * message id. Rejects with PayloadError (bad payload) or NotSentError: nothing counts as sent.
   * @param {string} event
   * @param {Record<string, unknown>} payload
   * @param {import("./index.js").EmitOptions} [options]
   */
  emit(event, payload, options = {}) {
    const sent = this.send(event, payload, options);
    this.inFlight.add(sent);
    const forget = () => this.inFlight.delete(sent);
    sent.then(forget, forget);
    return sent;
  }

  /**
   * @param {string} event
   * @param {Record<string, unknown>} payload
   * @param {import("./index.js").EmitOptions} options
   */
  async send(event, payload, options) {
    const message = buildMessage(event, payload, options);
    const id = message.message_id;
    if (this.closed) throw new NotSentError("closed", "the client is closed", id);
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const deadline = Date.now() + timeoutMs;
    const channel = await this.usableChannel(deadline);
    if (!channel) {
      if (this.closed) throw new NotSentError("closed", "the client is closed", id);
      throw new NotSentError(
        "connection",
        `no connection to RabbitMQ within ${timeoutMs} ms (last error: ${this.lastError})`,
        id,
      );
    }
    const queue = message.queue_name;
    if (this.declareQueues && !this.declared.has(queue)) {
      // One declaration per queue and channel, however many emits wait for it.
      let declaring = this.declaring.get(channel)?.get(queue);
      if (!declaring) {
        declaring = channel.assertQueue(queue, { durable: true, arguments: queueArguments(queue, this.queueType) });
        if (!this.declaring.has(channel)) this.declaring.set(channel, new Map());
        this.declaring.get(channel)?.set(queue, declaring);
        declaring.catch(() => this.declaring.get(channel)?.delete(queue));
      }
      try {
        await withDeadline(/** @type {Promise<unknown>} */ (declaring), deadline);
      } catch (error) {
        const text = /** @type {Error} */ (error).message;
        if (/PRECONDITION_FAILED/.test(text)) {
          throw new NotSentError(
            "queue",
            `queue '${queue}' exists with other arguments than queueType '${this.queueType}' declares` +
              " (set queueType to the deployment's RABBITMQ_QUEUE_TYPE)",
            id,
          );
        }
        throw new NotSentError("connection", `declaring queue '${queue}' failed: ${text}`, id);
      }
      this.declared.add(queue);
    }
    return await new Promise((resolve, reject) => {
      const waiting = this.unconfirmed.get(channel);
      let settled = false;
      const settle = (/** @type {NotSentError | null} */ error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        waiting?.delete(onClose);
        const unroutable = this.returned.delete(id);
        if (error) reject(error);
        else if (unroutable) reject(new NotSentError("unroutable", `queue '${queue}' does not exist`, id));
        else resolve(id);
      };
      const onClose = () =>
        settle(new NotSentError("connection", `the channel closed before RabbitMQ confirmed (${this.lastError})`, id));
      const timer = setTimeout(
        () => settle(new NotSentError("timeout", `no publisher confirm within ${timeoutMs} ms`, id)),
        Math.max(0, deadline - Date.now()),
      );
      waiting?.add(onClose);
      try {
        channel.publish(
          "",
          queue,
          Buffer.from(JSON.stringify(message), "utf8"),
          { persistent: true, mandatory: true, contentType: "application/json", messageId: id },
          (/** @type {unknown} */ error) => {
            if (!error) settle(null);
            else if (this.channel !== channel || /closed/i.test(String(/** @type {Error} */ (error)?.message))) onClose();
            else {
              settle(new NotSentError("nack", "RabbitMQ refused the message (nack)", id));
              this.retireChannel(channel);
            }
          },
        );
      } catch (error) {
        settle(new NotSentError("connection", `publish failed: ${/** @type {Error} */ (error).message}`, id));
      }
    });
  }

  /** Wait for emits in flight (each has its deadline), then close the connection. */
  async close() {
    await Promise.allSettled([...this.inFlight]);
    this.closed = true;
    for (const wake of this.waiters) wake(/** @type {any} */ (null));
    const connection = this.connection;
    this.connection = null;
    this.channel = null;
    if (connection) await connection.close().catch(() => {});
  }
}

/**
 * @template T
 * @param {Promise<T>} promise
 * @param {number} deadline
 * @returns {Promise<T>}
 */
function withDeadline(promise, deadline) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no answer before the deadline")), Math.max(0, deadline - Date.now()));
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** The statement `addToOutbox` runs (PostgreSQL, `$n` placeholders as node-postgres uses). */
export const OUTBOX_INSERT_SQL =
  "INSERT INTO outbox (actor, payload, idempotency_key) VALUES ($1, $2::jsonb, $3) " +
  "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id";

/**
 * Add an event to the transactional outbox, inside the caller's open transaction: the relay
 * (`yoked outbox relay`) publishes it only if that transaction commits. Validates first
 * (PayloadError, nothing inserted). Resolves to the outbox row id, or null when a row with this
 * `idempotencyKey` exists already.
 * @param {{ query(text: string, values?: unknown[]): Promise<{ rows: Array<Record<string, unknown>> }> }} client
 * @param {string} event
 * @param {Record<string, unknown>} payload
 * @param {{ idempotencyKey?: string }} [options]
 */
export async function addToOutbox(client, event, payload, options = {}) {
  validate(event, payload);
  const spec = EVENTS[/** @type {keyof typeof EVENTS} */ (event)];
  const key = options.idempotencyKey ?? null;
  if (key !== null && (typeof key !== "string" || key === "")) {
    throw new PayloadError("idempotencyKey", "must be a non-empty string");
  }
  const result = await client.query(OUTBOX_INSERT_SQL, [spec.actor, JSON.stringify(payload), key]);
  const row = result.rows[0];
  return row === undefined ? null : String(row.id);
}
