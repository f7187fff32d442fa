import pg from "pg";

/** A subscription is checked this often on its own connection; a silent drop is found within it. */
const HEARTBEAT_MS = 10_000;
const HEARTBEAT_TIMEOUT_MS = 5_000;
/** Reconnection waits 1 s, 2 s, 4 s … up to this. */
const MAX_BACKOFF_MS = 30_000;

export interface ListenForNotificationsOptions {
  url: string;
  channel: string;
  onNotification(payload: string): void;
  /** After each subscription, first and renewed: what was sent while none was held is looked for then. */
  onSubscribed(): void;
  /** A subscription that was lost; another is being made. */
  onLost(error: Error): void;
}

export interface Listening {
  /** Ends the subscription and its connection; resolves once the connection is closed. */
  close(): Promise<void>;
}

/**
 * LISTEN on `channel` over a connection of its own, renewed (with backoff) whenever
 * it drops or stops listening. The connection keeps its 'error' listener until it is
 * closed: a server that is stopping, or an administrator, may terminate it (57P01)
 * while it is being ended, and an 'error' event nobody hears would crash the process.
 * Rejects when the first subscription cannot be made.
 *
 * @example
 * const listening = await listenForNotifications({ url, channel: "jobs", onNotification, onSubscribed, onLost });
 * await listening.close();
 */
export async function listenForNotifications(
  options: ListenForNotificationsOptions,
): Promise<Listening> {
  let closed = false;
  /** Every connection not yet closed: the one subscribed, or one being made. */
  const open = new Set<pg.Client>();
  let subscribed: pg.Client | undefined;
  let timer: NodeJS.Timeout | undefined;
  let failures = 0;

  const later = (ms: number, fn: () => void) => {
    timer = setTimeout(() => {
      timer = undefined;
      fn();
    }, ms);
    timer.unref();
  };

  const end = async (client: pg.Client) => {
    await client.end().catch(() => {});
    open.delete(client);
  };

  const renew = () => {
    if (closed || timer !== undefined) return;
    const backoff = Math.min(MAX_BACKOFF_MS, 1_000 * 2 ** Math.min(failures, 5));
    failures += 1;
    later(backoff, () => {
      subscribe().catch((error: Error) => {
        if (closed) return;
        options.onLost(error);
        renew();
      });
    });
  };

  const lose = (client: pg.Client, error: Error) => {
    if (closed || client !== subscribed) return;
    subscribed = undefined;
    clearTimeout(timer);
    timer = undefined;
    void end(client);
    options.onLost(error);
    renew();
  };

  const heartbeat = (client: pg.Client) => {
    later(HEARTBEAT_MS, () => {
      let expired: NodeJS.Timeout | undefined;
      const check = client.query(
        "select 1 from pg_listening_channels() as listening(channel) where channel = $1",
        [options.channel],
      );
      // A check that loses the race still settles later; it must not reject unheard.
      check.catch(() => {});
      Promise.race([
        check,
        new Promise<never>((_, reject) => {
          expired = setTimeout(
            () => reject(new Error("the notification connection did not answer in time")),
            HEARTBEAT_TIMEOUT_MS,
          );
        }),
      ])
        .then((result) => {
          if (result.rowCount === 0) throw new Error(`no longer listening on ${options.channel}`);
          if (!closed && client === subscribed) heartbeat(client);
        })
        .catch((error: Error) => lose(client, error))
        .finally(() => clearTimeout(expired));
    });
  };

  const subscribe = async () => {
    const client = new pg.Client({
      connectionString: options.url,
      connectionTimeoutMillis: 10_000,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    open.add(client);
    client.on("error", (error) => lose(client, error));
    client.on("end", () => lose(client, new Error("the notification connection ended")));
    client.on("notification", (message) => {
      if (message.payload !== undefined) options.onNotification(message.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${client.escapeIdentifier(options.channel)}`);
    } catch (error) {
      await end(client);
      throw error;
    }
    if (closed) {
      await end(client);
      return;
    }
    subscribed = client;
    failures = 0;
    heartbeat(client);
    options.onSubscribed();
  };

  await subscribe();
  return {
    async close() {
      closed = true;
      clearTimeout(timer);
      timer = undefined;
      subscribed = undefined;
      await Promise.all([...open].map(end));
    },
  };
}
