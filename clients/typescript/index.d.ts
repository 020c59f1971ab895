/** Payload of `message.sent` (docs/schemas/message.sent.json). */
export interface MessageSent {
  /** messages.id of the new message (UUID). */
  messageId: string;
  /** The text as stored (messages.content); at most 10000 characters. */
  content: string;
  /** users.id of the sender (UUID). */
  senderId: string;
}

export interface EventPayloads {
  "message.sent": MessageSent;
}

export type EventName = keyof EventPayloads;

/** A Dramatiq message as it travels on RabbitMQ (docs/wire-format.md). */
export interface DramatiqMessage<P> {
  queue_name: string;
  actor_name: string;
  args: [];
  kwargs: P;
  options: Record<string, unknown>;
  message_id: string;
  message_timestamp: number;
}

export declare const EVENTS: Readonly<
  Record<EventName, { actor: string; queue: string; fields: readonly string[] }>
>;
export declare const MAX_CONTENT_LENGTH: number;

export declare class PayloadError extends Error {
  readonly field: string;
}

export declare function validate<E extends EventName>(event: E, payload: EventPayloads[E]): void;
export declare function buildMessage<E extends EventName>(
  event: E,
  payload: EventPayloads[E],
  options?: { messageId?: string; now?: number },
): DramatiqMessage<EventPayloads[E]>;
export declare function queueArguments(queue: string): Record<string, string>;

export declare class YokedClient {
  static connect(url: string): Promise<YokedClient>;
  emit<E extends EventName>(
    event: E,
    payload: EventPayloads[E],
    options?: { messageId?: string },
  ): Promise<string>;
  close(): Promise<void>;
}
