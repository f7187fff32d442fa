import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { SafeHtml } from "./html.ts";

/**
 * What every console response carries: a strict Content-Security-Policy (scripts,
 * styles and connections from this origin only, nothing inline, no framing), no
 * MIME sniffing, no referrer beyond this origin.
 */
export const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "same-origin",
  "cross-origin-opener-policy": "same-origin",
};

export function sendHtml(
  res: ServerResponse,
  status: number,
  body: SafeHtml,
  headers: Record<string, string | string[]> = {},
): void {
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    ...headers,
  });
  res.end(body.value);
}

export function redirect(
  res: ServerResponse,
  location: string,
  headers: Record<string, string | string[]> = {},
  status = 303,
): void {
  res.writeHead(status, { ...SECURITY_HEADERS, location, "cache-control": "no-store", ...headers });
  res.end();
}

/** A form body (application/x-www-form-urlencoded), at most 16 KiB. */
export async function readForm(req: IncomingMessage): Promise<URLSearchParams | undefined> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 16 * 1024) return undefined;
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

/**
 * Whether a state-changing request came from the console's own pages: browsers
 * say where a request came from (Sec-Fetch-Site, Origin); a cross-site one is
 * refused before the CSRF token is even looked at.
 */
export function sameOrigin(req: IncomingMessage): boolean {
  const site = req.headers["sec-fetch-site"];
  if (site !== undefined && site !== "same-origin" && site !== "none") return false;
  const origin = req.headers.origin;
  if (origin === undefined || origin === "null") return origin === undefined;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

/** A path to come back to after signing in: only the console's own pages. */
export function safeNext(next: string | null | undefined): string {
  return next !== null &&
    next !== undefined &&
    /^\/console(\/|\?|$)/.test(next) &&
    // Printable ASCII only: a control character would break the Location header.
    /^[\x21-\x7e]*$/.test(next) &&
    !next.includes("\\") &&
    !next.startsWith("//")
    ? next
    : "/console";
}

/** Whether two strings are equal, in time that does not depend on where they differ. */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
