import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";

/** Seals values into cookie-safe strings that only this key can read or forge. */
export interface CookieSealer {
  seal(value: unknown, maxAgeSeconds: number): string;
  /** The value, or undefined when the string was forged, altered, sealed with another key or expired. */
  open<T>(sealed: string | undefined): T | undefined;
}

/**
 * AES-256-GCM with a key derived from `secret`: a sealed cookie is both signed
 * (GCM's tag fails on any change) and unreadable to its holder, which matters for
 * the session because it carries the person's GitHub token. The expiry is inside
 * the sealed data, so a cookie kept past its Max-Age is refused too.
 *
 * @example
 * const sealer = createCookieSealer({ secret, purpose: "session" });
 * sealer.open<Session>(sealer.seal(session, 3600));
 */
export function createCookieSealer({
  secret,
  purpose,
}: {
  secret: string;
  purpose: string;
}): CookieSealer {
  const key = createHash("sha256").update(`devflow-console:${purpose}:`).update(secret).digest();
  return {
    seal(value, maxAgeSeconds) {
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", key, iv);
      const body = JSON.stringify({ v: value, exp: Date.now() + maxAgeSeconds * 1000 });
      const data = Buffer.concat([cipher.update(body, "utf8"), cipher.final()]);
      return Buffer.concat([iv, cipher.getAuthTag(), data]).toString("base64url");
    },
    open<T>(sealed: string | undefined): T | undefined {
      if (sealed === undefined || sealed.length > 8192) return undefined;
      try {
        const bytes = Buffer.from(sealed, "base64url");
        const decipher = createDecipheriv("aes-256-gcm", key, bytes.subarray(0, 12));
        decipher.setAuthTag(bytes.subarray(12, 28));
        const body = Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]);
        const parsed = JSON.parse(body.toString("utf8")) as { v: T; exp: number };
        return parsed.exp > Date.now() ? parsed.v : undefined;
      } catch {
        return undefined;
      }
    },
  };
}
