import type { IncomingMessage, ServerResponse } from "node:http";

/** A plain Node request handler: true when it answered the request. */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;
