import { DevflowError, isDevflowError } from "../errors.ts";

/** PostgreSQL's and Node's codes for "the database at DATABASE_URL is not there for us". */
const UNREACHABLE: Record<string, string> = {
  ECONNREFUSED: "nothing listens there",
  ENOTFOUND: "the host name does not resolve",
  EAI_AGAIN: "the host name does not resolve",
  ETIMEDOUT: "it did not answer in time",
  EHOSTUNREACH: "the host is unreachable",
  "28P01": "the password was refused",
  "28000": "the user may not connect",
  "3D000": "the database does not exist",
  "42501": "the user lacks a privilege devflow needs (it creates its tables)",
};

/** DATABASE_URL without its password, for messages. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(DATABASE_URL is not a URL)";
  }
}

/**
 * A start-up failure talking to DATABASE_URL, said as what failed and how to fix
 * it; anything else passes through unchanged.
 */
export function explainDatabaseFailure(error: unknown, url: string): unknown {
  if (isDevflowError(error) || !(error instanceof Error)) return error;
  // drizzle wraps the driver's error; its code is on the cause.
  let code: string | undefined;
  for (let e: unknown = error; e instanceof Error && code === undefined; e = e.cause) {
    code = (e as { code?: string }).code;
  }
  const reason =
    (code === undefined ? undefined : UNREACHABLE[code]) ??
    (/timeout|terminated|Connection terminated/i.test(error.message)
      ? "it did not answer in time"
      : undefined);
  if (reason === undefined) return error;
  return new DevflowError(
    `cannot use the database at DATABASE_URL=${redactedUrl(url)}: ${reason} (${error.message})`,
    {
      class: "fatal",
      code: "database_unavailable",
      recoveryHint:
        "start that PostgreSQL or correct DATABASE_URL (user, password, host, port, database); unset it to use devflow's embedded PostgreSQL",
      cause: error,
    },
  );
}
