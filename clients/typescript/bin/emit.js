#!/usr/bin/env node
// Usage: yoked-emit EVENT --json PAYLOAD [--url AMQP_URL[,AMQP_URL...]] [--idempotency-key KEY]
//        [--queue-type classic|quorum]   (defaults: $RABBITMQ_URL, $RABBITMQ_QUEUE_TYPE or classic)
// Prints the message id once RabbitMQ confirmed it. A bad payload exits 2 naming the field;
// nothing is published. Not sent (no confirm in time, refused): exits 1 with "not sent: ...".
import { NotSentError, PayloadError, YokedClient, validate } from "../index.js";

function usage(problem) {
  process.stderr.write(`${problem}\nusage: yoked-emit EVENT --json PAYLOAD [--url AMQP_URL] [--idempotency-key KEY] [--queue-type TYPE]\n`);
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
const idempotencyKey = option("--idempotency-key");
const queueType = option("--queue-type") ?? process.env.RABBITMQ_QUEUE_TYPE ?? "classic";
if (queueType !== "classic" && queueType !== "quorum") usage("--queue-type must be classic or quorum");
const client = await YokedClient.connect(url, { queueType });
try {
  process.stdout.write(`${await client.emit(event, payload, { idempotencyKey })}\n`);
} catch (error) {
  if (!(error instanceof NotSentError)) throw error;
  process.stderr.write(`${error.message}\n`);
  process.exitCode = 1;
} finally {
  await client.close();
}
