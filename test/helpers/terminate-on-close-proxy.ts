import { connect, createServer, type Socket } from "node:net";
import pg from "pg";

/** The protocol codes of the requests a client may send before its startup message. */
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
/** The Terminate message's type byte: the last thing a client sends. */
const TERMINATE = 0x58;

/**
 * A TCP proxy in front of PostgreSQL that has every connection end the way a
 * server that is going away ends it: when a client says goodbye (its Terminate
 * message) the proxy holds the goodbye back and has PostgreSQL terminate that
 * client's backend, so the client reads "terminating connection due to
 * administrator command" (57P01) while it is closing. Each connection is found
 * in pg_stat_activity by the port the proxy connects from.
 */
export async function terminateOnCloseProxy(url: string) {
  const target = new URL(url);
  const admin = new pg.Client({ connectionString: url });
  admin.on("error", () => {});
  await admin.connect();
  const terminated: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (client) => {
    const upstream = connect({ host: target.hostname, port: Number(target.port) });
    sockets.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    upstream.pipe(client);
    let pending = Buffer.alloc(0);
    let started = false;
    let saidGoodbye = false;
    client.on("data", (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        // Before the startup message, requests carry no type byte.
        const header = started ? 5 : 8;
        if (pending.length < header) return;
        const length = started ? 1 + pending.readInt32BE(1) : pending.readInt32BE(0);
        if (pending.length < length) return;
        const message = pending.subarray(0, length);
        pending = pending.subarray(length);

        if (started && message[0] === TERMINATE) {
          saidGoodbye = true;
          void admin
            .query<{ application_name: string; terminated: boolean }>(
              // In the select list, not the where clause: PostgreSQL may evaluate a
              // where clause's conditions in any order, and would terminate every backend.
              "select application_name, pg_terminate_backend(pid) as terminated from pg_stat_activity where client_port = $1",
              [upstream.localPort],
            )
            .then(
              ({ rows }) => {
                for (const row of rows) if (row.terminated) terminated.push(row.application_name);
              },
              () => upstream.destroy(),
            );
          return;
        }
        if (!started) {
          const code = message.readInt32BE(4);
          started = code !== SSL_REQUEST && code !== GSSENC_REQUEST;
        }
        upstream.write(message);
      }
    });
    // The client's half-close follows its goodbye; the backend's own close ends the pair.
    client.on("end", () => {
      if (!saidGoodbye) upstream.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const proxied = new URL(url);
  proxied.port = String(typeof address === "object" && address !== null ? address.port : 0);
  return {
    url: proxied.toString(),
    /** The application_name of every backend terminated so far (pg-boss's, devflow's pool's …). */
    terminated,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await admin.end().catch(() => {});
    },
  };
}
