/** A value devflow protects, by the name it is reported under ("the app's private key"). */
export interface Secret {
  name: string;
  value: string;
}

/** Where a protected value was found: its name, the line, and the line with it redacted. */
export interface SecretFinding {
  name: string;
  line: number;
  excerpt: string;
}

/**
 * The values devflow must never let out — the app's private key and webhook
 * secret, the database password, installation tokens, the model keys handed to
 * agents — and the means to find and redact them in any text before it is
 * pushed or published.
 */
export interface Secrets {
  /** Protects one more value (an installation token as it is minted); ignores short or empty ones. */
  add(name: string, value: string | undefined): void;
  find(text: string): SecretFinding[];
  redact(text: string): string;
}

/** Shorter values are not searched for: they would match ordinary text. */
const MIN_LENGTH = 12;
/** Long values are also searched for in pieces, so a partial copy is caught too. */
const PIECE = 32;
const MAX_TOKENS = 1000;

/** GitHub token shapes (installation, user and app tokens): whichever process minted them. */
const TOKEN_PATTERN = /\b(?:gh[opsu]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{60,255})\b/g;

interface Needle {
  name: string;
  text: string;
}

/** What to search for of one value: the value, its base64, and pieces of a long one or a PEM body. */
function needlesOf(secret: Secret): Needle[] {
  const value = secret.value.trim();
  const needles: Needle[] = [{ name: secret.name, text: value }];
  needles.push({
    name: secret.name,
    text: Buffer.from(value).toString("base64").replace(/=+$/, ""),
  });
  const body = value.includes("-----BEGIN")
    ? value
        .split("\n")
        .filter((line) => !line.startsWith("-----"))
        .join("")
    : value;
  if (body.length >= PIECE * 2) {
    for (let at = 0; at + PIECE <= body.length; at += PIECE) {
      needles.push({ name: secret.name, text: body.slice(at, at + PIECE) });
    }
    // The last piece ends where the value does: a tail shorter than a piece is in it.
    if (body.length % PIECE !== 0) needles.push({ name: secret.name, text: body.slice(-PIECE) });
  }
  // Each line of a PEM body too, its last (short) one included: a copy wrapped as
  // the key is (in an environment dump) is found line by line.
  if (body !== value) {
    for (const line of value.split("\n")) {
      if (!line.startsWith("-----") && line.trim().length >= MIN_LENGTH)
        needles.push({ name: secret.name, text: line.trim() });
    }
  }
  return needles;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * @example
 * const secrets = createSecrets([{ name: "WEBHOOK_SECRET", value: settings.github.webhookSecret }]);
 * secrets.find(diff); // [{ name: "WEBHOOK_SECRET", line: 12, excerpt: "+secret = [redacted WEBHOOK_SECRET]" }]
 */
export function createSecrets(initial: Secret[] = []): Secrets {
  const needles: Needle[] = [];
  const known = new Set<string>();
  let pattern: RegExp | undefined;
  let tokens = 0;

  function add(name: string, value: string | undefined): void {
    if (value === undefined || value.trim().length < MIN_LENGTH || known.has(value)) return;
    if (name === "an installation token") {
      tokens += 1;
      if (tokens > MAX_TOKENS) return;
    }
    known.add(value);
    needles.push(...needlesOf({ name, value }));
    pattern = undefined;
  }

  function matcher(): RegExp {
    if (pattern === undefined) {
      const alternatives = needles
        .map((needle) => needle.text)
        .sort((a, b) => b.length - a.length)
        .map(escapeRegExp);
      alternatives.push(TOKEN_PATTERN.source);
      pattern = new RegExp(alternatives.join("|"), "g");
    }
    pattern.lastIndex = 0;
    return pattern;
  }

  function nameOf(match: string): string {
    return needles.find((needle) => needle.text === match)?.name ?? "a GitHub token";
  }

  function redact(text: string): string {
    return text.replace(matcher(), (match) => `[redacted ${nameOf(match)}]`);
  }

  for (const secret of initial) add(secret.name, secret.value);
  return {
    add,
    redact,
    find(text) {
      const findings: SecretFinding[] = [];
      const lines = text.split("\n");
      for (const [index, line] of lines.entries()) {
        const found = line.match(matcher());
        if (found === null) continue;
        for (const match of new Set(found)) {
          findings.push({
            name: nameOf(match),
            line: index + 1,
            excerpt: redact(line).slice(0, 200),
          });
        }
      }
      return findings;
    },
  };
}

/** The secrets devflow knows from its environment: its own and the model keys agents get. */
export function secretsFromEnvironment(
  env: NodeJS.ProcessEnv,
  modelKeyNames: readonly string[],
  privateKey: string | undefined,
): Secret[] {
  const secrets: Secret[] = [];
  const push = (name: string, value: string | undefined) => {
    if (value !== undefined && value !== "") secrets.push({ name, value });
  };
  push("the GitHub App's private key", privateKey);
  push("the webhook secret", env.WEBHOOK_SECRET);
  push("the app's OAuth client secret", env.GITHUB_CLIENT_SECRET);
  push("the console's session secret", env.DEVFLOW_CONSOLE_SECRET);
  if (env.DATABASE_URL) {
    try {
      push("the database password", decodeURIComponent(new URL(env.DATABASE_URL).password));
    } catch {
      // Not a URL: nothing to protect in it.
    }
  }
  for (const name of modelKeyNames) push(name, env[name]);
  return secrets;
}
