import { DevflowError } from "../../errors.ts";
import type { SecretFinding, Secrets } from "../../security/secrets.ts";

/** A secret in a staged diff, placed by file and line of the new version. */
export interface PlacedFinding extends SecretFinding {
  file: string;
}

/** Finds protected values on the added lines of a unified diff, by file and line. */
export function findSecretsInDiff(secrets: Secrets, diff: string): PlacedFinding[] {
  const findings: PlacedFinding[] = [];
  let file = "";
  let line = 0;
  for (const text of diff.split("\n")) {
    if (text.startsWith("+++ ")) {
      file = text.slice(4).replace(/^b\//, "");
      continue;
    }
    const hunk = /^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(text);
    if (hunk?.[1] !== undefined) {
      line = Number(hunk[1]);
      continue;
    }
    if (text.startsWith("+")) {
      for (const finding of secrets.find(text.slice(1))) {
        findings.push({ ...finding, file, line });
      }
      line += 1;
    } else if (text.startsWith(" ")) {
      line += 1;
    }
  }
  return findings;
}

/**
 * The review of an attempt's commit before it is made and pushed: a protected
 * value anywhere in the added lines or in the message stops it, with the places
 * named (redacted). The run fails with `secret_detected`; nothing left the host.
 */
export function refuseSecrets(secrets: Secrets) {
  return async ({ diff, message }: { diff: string; message: string }): Promise<void> => {
    const places = [
      ...findSecretsInDiff(secrets, diff).map(
        (finding) =>
          `${finding.name} in ${finding.file} line ${finding.line}: \`${finding.excerpt}\``,
      ),
      ...secrets
        .find(message)
        .map((finding) => `${finding.name} in the commit message: \`${finding.excerpt}\``),
    ];
    if (places.length === 0) return;
    throw new DevflowError(
      `devflow did not push this attempt: it holds a value devflow protects — ${places.slice(0, 5).join("; ")}`,
      { class: "fatal", code: "secret_in_commit", category: "secret_detected" },
    );
  };
}
