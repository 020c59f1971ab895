#!/usr/bin/env node
// Usage: yoked-emit EVENT --json PAYLOAD [--url AMQP_URL]   (default URL: $RABBITMQ_URL)
// Prints the message id. A bad payload exits 2 naming the field; nothing is published.
import { PayloadError, YokedClient, validate } from "../index.js";

function usage(problem) {
  process.stderr.write(`${problem}\nusage: yoked-emit EVENT --json PAYLOAD [--url AMQP_URL]\n`);
  process.exit(2);
}

const args = process.argv.slice(2);
const event = args[0];
const option = (name) => {
  const at = args.indexOf(name);
  return at > 0 ? args[at + 1] : undefined;
};
if (!event || event.startsWith("--")) usage("EVENT is required");
const raw = option("--json");
if (raw === undefined) usage("--json is required");
const url = option("--url") ?? process.env.RABBITMQ_URL;
if (!url) usage("--url or RABBITMQ_URL is required");

let payload;
try {
  payload = JSON.parse(raw);
  validate(event, payload);
} catch (error) {
  if (error instanceof SyntaxError) usage("--json is not valid JSON");
  if (error instanceof PayloadError) usage(`${event}: ${error.message}`);
  throw error;
}
const client = await YokedClient.connect(url);
try {
  process.stdout.write(`${await client.emit(event, payload)}\n`);
} finally {
  await client.close();
}
