/**
 * The load generator of `bench:github` (a), run as its own process so that the
 * server it measures keeps its event loop: signed `issues.labeled` deliveries from
 * autocannon, each with its own delivery id (GitHub signs the body, so one
 * signature serves them all). Its one argument is a JSON object (port, body file,
 * signature, connections, seconds); it prints autocannon's result as JSON.
 */
import { readFileSync } from "node:fs";
import autocannon from "autocannon";

const { port, bodyFile, signature, connections, seconds } = JSON.parse(process.argv[2] ?? "{}") as {
  port: number;
  bodyFile: string;
  signature: string;
  connections: number;
  seconds: number;
};

const result = await autocannon({
  url: `http://127.0.0.1:${port}/api/github/webhooks`,
  method: "POST",
  connections,
  duration: seconds,
  // Every request gets a fresh id where the headers say [<id>].
  idReplacement: true,
  headers: {
    "content-type": "application/json",
    "x-github-event": "issues",
    "x-github-delivery": "[<id>]",
    "x-hub-signature-256": signature,
  },
  body: readFileSync(bodyFile),
});
process.stdout.write(`${JSON.stringify(result)}\n`);
