import { DevflowError } from "../../errors.ts";
import type { SecretFinding, Secrets } from "../../security/secrets.ts";

/**
 * A secret in a staged diff, placed by file and line of the new version; line 0
 * (and no file) when it is in a file's name.
 */
export interface PlacedFinding extends SecretFinding {
  file: string;
}

/** Finds protected values on the added lines of a unified diff, by file and line, and in its files' names. */
export function findSecretsInDiff(secrets: Secrets, diff: string): PlacedFinding[] {
  const findings: PlacedFinding[] = [];
  let file = "";
  let line = 0;
  for (const text of diff.split("\n")) {
    // A name is pushed as much as a line is, and an empty new file has no +++ line to name it.
    if (text.startsWith("diff --git ")) {
      for (const finding of secrets.find(text)) findings.push({ ...finding, file: "", line: 0 });
      continue;
    }
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
      ...findSecretsInDiff(secrets, diff).map((finding) =>
        finding.line === 0
          ? `${finding.name} in a file's name: \`${finding.excerpt}\``
          : `${finding.name} in ${secrets.redact(finding.file)} line ${finding.line}: \`${finding.excerpt}\``,
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
