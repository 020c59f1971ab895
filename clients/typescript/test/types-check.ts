// Compiled by `npm run check` (tsc --noEmit), never run: how a TypeScript API uses the client,
// through the package's exports map. A wrong field, event or option fails the check.
import { NotSentError, YokedClient, addToOutbox, buildMessage } from "@yoked/actors-client";
import type { MessageSent, Queryable } from "@yoked/actors-client";

export async function send(url: string, db: Queryable, event: MessageSent): Promise<string | null> {
  const client = await YokedClient.connect(url.split(","), { queueType: "quorum", timeoutMs: 2000 });
  client.events.on("disconnected", (node: string, why: string) => console.warn(node, why));
  try {
    return await client.emit("message.sent", event, { idempotencyKey: `message.sent:${event.messageId}` });
  } catch (error) {
    if (error instanceof NotSentError && error.reason === "timeout") return null;
    throw error;
  } finally {
    await client.close();
  }
  // @ts-expect-error an unknown field is rejected at compile time
  buildMessage("message.sent", { ...event, extra: 1 });
  // @ts-expect-error an unknown event
  await addToOutbox(db, "message.deleted", event);
  // @ts-expect-error queueType is classic or quorum
  await YokedClient.connect(url, { queueType: "stream" });
}
