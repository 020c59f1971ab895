// Emits message.sent continuously through the TypeScript client (clients/typescript), as an API
// under load would: one emit every INTERVAL ms, each awaited on its own (not in sequence).
// argv: <client index.js> <rows.json: [[messageId, content, senderId], ...]> <interval ms>
//       [queue type, default classic]
// Stops early when stdin closes. env: RABBITMQ_URL. Prints one JSON line per outcome, then a summary line; exit 0 unless
// the process itself failed.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [clientPath, rowsPath, intervalText] = process.argv.slice(2);
const { YokedClient } = await import(pathToFileURL(clientPath).href);
const rows = JSON.parse(readFileSync(rowsPath, "utf8"));
const interval = Number(intervalText);
const queueType = process.argv[5] ?? "classic";

const client = await YokedClient.connect(process.env.RABBITMQ_URL, {
  queueType,
  timeoutMs: 2000,
  minBackoffMs: 100,
  maxBackoffMs: 1000,
});
for (const name of ["connected", "disconnected", "reconnecting", "connect-failed"]) {
  client.events.on(name, (...args) => process.stdout.write(`${JSON.stringify({ event: name, args, at: Date.now() })}\n`));
}
let stop = false;
process.stdin.on("end", () => { stop = true; }).resume();
const pending = [];
for (const [messageId, content, senderId] of rows) {
  if (stop) break;
  const sent = client
    .emit("message.sent", { messageId, content, senderId }, { idempotencyKey: `message.sent:${messageId}` })
    .then(
      (id) => ({ row: messageId, ok: true, id, at: Date.now() }),
      (error) => ({ row: messageId, ok: false, error: String(error?.message), name: error?.name, at: Date.now() }),
    )
    .then((outcome) => process.stdout.write(`${JSON.stringify(outcome)}\n`));
  pending.push(sent);
  await new Promise((resolve) => setTimeout(resolve, interval));
}
await Promise.all(pending);
await client.close();
process.stdout.write(`${JSON.stringify({ done: pending.length })}\n`);
process.stdin.destroy();
