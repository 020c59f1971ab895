import type { EventEmitter } from "node:events";
import type { EventPayloads } from "./events.js";

export type { EventPayloads, MessageSent } from "./events.js";

export type EventName = keyof EventPayloads;

/** RabbitMQ queue type of the deployment (`RABBITMQ_QUEUE_TYPE` on the workers). */
export type QueueType = "classic" | "quorum";

/** A Dramatiq message as it travels on RabbitMQ (docs/wire-format.md). */
export interface DramatiqMessage<P> {
  queue_name: string;
  actor_name: string;
  args: [];
  kwargs: P;
  options: { idempotency_key?: string };
  message_id: string;
  message_timestamp: number;
}

export interface ClientOptions {
  /** The deployment's queue type; the queue is declared with exactly the workers' arguments. Default "classic". */
  queueType?: QueueType;
  /** Deadline of one emit (waiting for a connection, declaring, the confirm), ms. Default 5000. */
  timeoutMs?: number;
  /** Reconnect backoff: first delay and cap, ms. Defaults 100 and 5000. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** AMQP heartbeat, seconds (a dead connection is noticed within about two). Default 10. */
  heartbeatSeconds?: number;
  /** TCP connect timeout per node, ms. Default 3000. */
  connectTimeoutMs?: number;
  /** Declare the event's queue before the first publish (default true). */
  declareQueues?: boolean;
}

export interface EmitOptions {
  /** Reuse the message id when sending again after a rejection. */
  messageId?: string;
  /** The run is skipped if one with this key already succeeded. */
  idempotencyKey?: string;
  /** This emit's deadline, ms (default: the client's timeoutMs). */
  timeoutMs?: number;
}

export declare const EVENTS: Readonly<
  Record<EventName, { actor: string; queue: string; fields: readonly string[] }>
>;
export declare const MAX_CONTENT_LENGTH: number;
export declare const OUTBOX_INSERT_SQL: string;

export declare class PayloadError extends Error {
  readonly field: string;
}

export type NotSentReason = "timeout" | "nack" | "connection" | "unroutable" | "queue" | "closed";

/** The message was not sent: send it again with the same messageId. */
export declare class NotSentError extends Error {
  readonly reason: NotSentReason;
  readonly messageId: string | undefined;
}

export declare function validate<E extends EventName>(event: E, payload: EventPayloads[E]): void;
export declare function buildMessage<E extends EventName>(
  event: E,
  payload: EventPayloads[E],
  options?: { messageId?: string; now?: number; idempotencyKey?: string },
): DramatiqMessage<EventPayloads[E]>;
export declare function queueArguments(
  queue: string,
  queueType?: QueueType,
): Record<string, string | number>;
export declare function parseUrls(urls: string | string[]): string[];
export declare function backoffDelay(attempt: number, minMs: number, maxMs: number): number;

/** What `addToOutbox` needs: node-postgres' Client, PoolClient, or anything alike. */
export interface Queryable {
  query(text: string, values?: unknown[]): Promise<{ rows: Array<Record<string, unknown>> }>;
}

export declare function addToOutbox<E extends EventName>(
  client: Queryable,
  event: E,
  payload: EventPayloads[E],
  options?: { idempotencyKey?: string },
): Promise<string | null>;

export declare class YokedClient {
  /** `connected` (node), `disconnected` (node, why), `reconnecting` (attempt, delayMs), `connect-failed` (node, why). */
  readonly events: EventEmitter;
  /** URLs: an array, or one string with several comma-separated (like RABBITMQ_URL). */
  static connect(urls: string | string[], options?: ClientOptions): Promise<YokedClient>;
  emit<E extends EventName>(event: E, payload: EventPayloads[E], options?: EmitOptions): Promise<string>;
  close(): Promise<void>;
}
