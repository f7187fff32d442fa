import { connect, createServer, type Server, type Socket } from "node:net";

/**
 * A TCP proxy on loopback in front of a real server (PostgreSQL), to make it go
 * away in the two ways databases do: `freeze()` — connections stay open and
 * nothing answers — and `refuse()` — connections are cut and new ones refused.
 * `restore()` brings it back (frozen traffic flows on).
 */
export async function tcpProxy(target: { host: string; port: number }) {
  const pairs = new Set<[Socket, Socket]>();
  let mode: "pass" | "freeze" | "refuse" = "pass";
  let server: Server;
  let port = 0;
  const pipe = (client: Socket) => {
    if (mode === "refuse") {
      client.destroy();
      return;
    }
    const upstream = connect(target);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    client.pipe(upstream);
    upstream.pipe(client);
    if (mode === "freeze") {
      client.pause();
      upstream.pause();
    }
  };
  const listen = () =>
    new Promise<void>((resolve) => {
      server = createServer(pipe);
      server.listen(port, "127.0.0.1", () => {
        const address = server.address();
        port = typeof address === "object" && address !== null ? address.port : port;
        resolve();
      });
    });
  await listen();
  return {
    get port() {
      return port;
    },
    freeze() {
      mode = "freeze";
      for (const [client, upstream] of pairs) {
        client.pause();
        upstream.pause();
      }
    },
    async refuse() {
      mode = "refuse";
      for (const [client, upstream] of pairs) {
        client.destroy();
        upstream.destroy();
      }
      pairs.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    async restore() {
      if (mode === "refuse") await listen();
      mode = "pass";
      for (const [client, upstream] of pairs) {
        client.resume();
        upstream.resume();
      }
    },
    async close() {
      for (const [client, upstream] of pairs) {
        client.destroy();
        upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
