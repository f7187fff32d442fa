import { drizzle, type NodePgDatabase } from "drizzle-orm/node-postgres";
import pg from "pg";
import * as schema from "./schema/index.ts";

export type Schema = typeof schema;
/** The drizzle client; `$client` is its pool (for the few named statements on hot paths). */
export type Db = NodePgDatabase<Schema> & { $client: pg.Pool };
/** A drizzle transaction; engine helpers take this so they can only run inside one. */
export type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];

export interface Database {
  db: Db;
  pool: pg.Pool;
  url: string;
  close(): Promise<void>;
}

export interface CreateDatabaseOptions {
  url: string;
  max?: number;
}

/**
 * Opens a pool and a drizzle client on it.
 *
 * @example
 * const database = createDatabase({ url: process.env.DATABASE_URL });
 */
export function createDatabase({ url, max = 10 }: CreateDatabaseOptions): Database {
  // A database that does not answer must not hang a request for ever: a new connection
  // gives up after 5 s, so a webhook gets its 503 while GitHub still waits.
  const pool = new pg.Pool({ connectionString: url, max, connectionTimeoutMillis: 5_000 });
  // A client that loses its server must not crash the process — idle (the pool's
  // listener) or checked out between two queries of a transaction (pg-pool removes
  // its listener then, and a terminated connection would be an unhandled 'error'
  // event). The query in flight, or the next one, fails and its caller decides.
  pool.on("error", () => {});
  const checkedOut = new Set<pg.PoolClient>();
  pool.on("acquire", (client) => checkedOut.add(client));
  pool.on("release", (_error, client) => checkedOut.delete(client));
  pool.on("connect", (client) => {
    client.on("error", (error) => {
      // A checked-out client whose connection died goes back to the pool with its
      // error, so the pool drops it: drizzle never releases a client whose BEGIN
      // failed, and such a leak would, over an outage, use the whole pool up. The
      // release its holder may still make becomes a no-op.
      const held = client as pg.PoolClient;
      if (!checkedOut.has(held)) return;
      checkedOut.delete(held);
      const release = held.release;
      held.release = () => undefined;
      release(error);
    });
  });
  const db = drizzle(pool, { schema });
  return {
    db,
    pool,
    url,
    close: () => pool.end(),
  };
}
