// @ts-check
/**
 * The first process inside every agent sandbox (bubblewrap or a container), and
 * the agent's parent. The sandbox has no network but its own loopback, so this
 * bridges what the agent may use to devflow's egress proxy (a unix socket
 * mounted read-only): `127.0.0.1:<proxyPort>` is an HTTP proxy (HTTPS_PROXY
 * points at it), and each forwarded local port (a model endpoint the operator
 * put on loopback) is tunnelled to its destination through the same proxy, which
 * decides what may pass. It then runs the agent with its stdin from a file, and
 * ends it at the deadline — so even a sandbox whose worker died stops on time.
 * When this process exits, the sandbox ends and every process in it dies.
 *
 * Plain JavaScript, no imports beyond Node's: it starts in a few milliseconds on
 * any Node the sandbox has.
 *
 * Configuration: the JSON in DEVFLOW_SANDBOX — { proxySocket, proxyPort,
 * forwards: [{ port, host, targetPort }], deadlineMs, stdin, env } — and the
 * agent's command line as arguments. `env` is set for the agent only (the proxy
 * variables: Node pays for NODE_USE_ENV_PROXY at start, and this process needs none).
 */
import { spawn } from "node:child_process";
import { openSync } from "node:fs";
import { connect, createServer } from "node:net";

const config = JSON.parse(process.env.DEVFLOW_SANDBOX ?? "{}");
delete process.env.DEVFLOW_SANDBOX;
const [command, ...args] = process.argv.slice(2);

/** @param {import("node:net").Socket} a @param {import("node:net").Socket} b */
function join(a, b) {
  a.on("error", () => b.destroy());
  b.on("error", () => a.destroy());
  a.on("close", () => b.destroy());
  b.on("close", () => a.destroy());
  a.pipe(b);
  b.pipe(a);
}

/** @param {number} port @param {(client: import("node:net").Socket) => void} onClient */
function listen(port, onClient) {
  return new Promise((resolve, reject) => {
    const server = createServer(onClient);
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

/** A local port whose connections become CONNECT tunnels to one destination. */
function forward({ port, host, targetPort }) {
  return listen(port, (client) => {
    const upstream = connect(config.proxySocket);
    upstream.write(`CONNECT ${host}:${targetPort} HTTP/1.1\r\nhost: ${host}:${targetPort}\r\n\r\n`);
    let head = Buffer.alloc(0);
    const onData = (/** @type {Buffer} */ chunk) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end === -1) return;
      upstream.off("data", onData);
      const rest = head.subarray(end + 4);
      if (/^HTTP\/1\.[01] 200/.test(head.toString("latin1"))) {
        if (rest.length > 0) client.write(rest);
        join(client, upstream);
      } else {
        // The proxy's refusal is an HTTP answer the agent's client can read.
        client.end(head);
        upstream.destroy();
      }
    };
    upstream.on("data", onData);
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
  });
}

if (command === undefined) {
  process.stderr.write("devflow sandbox: no agent command\n");
  process.exit(2);
}
if (config.proxySocket !== undefined) {
  await listen(config.proxyPort, (client) => join(client, connect(config.proxySocket)));
  for (const entry of config.forwards ?? []) await forward(entry);
}

const stdin = config.stdin === undefined ? "ignore" : openSync(config.stdin, "r");
const agent = spawn(command, args, {
  stdio: [stdin, "inherit", "inherit"],
  env: { ...process.env, ...config.env },
});
agent.once("error", (error) => {
  const message = `${command}: ${error.message} (is the agent installed where the runner runs?)`;
  process.stdout.write(
    `devflow-error: ${JSON.stringify({ code: "agent_unavailable", fatal: true, message })}\n`,
  );
  process.exit(127);
});
agent.once("exit", (code, signal) => {
  process.exit(code ?? 128 + (signal === "SIGKILL" ? 9 : 15));
});
for (const signal of /** @type {const} */ (["SIGTERM", "SIGINT"])) {
  process.on(signal, () => agent.kill(signal));
}
if (typeof config.deadlineMs === "number") {
  setTimeout(() => {
    process.stdout.write("devflow sandbox: the attempt's time limit passed; stopping the agent\n");
    process.exit(124);
  }, config.deadlineMs).unref();
}
