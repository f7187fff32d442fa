import { createPrivateKey } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { Settings } from "../../settings.ts";
import { askGitHub } from "./ask-github.ts";
import type { Check } from "./check.ts";

/**
 * The app's credentials: its id, a private key that parses as RSA, a webhook
 * secret long enough to matter and, unless offline, whether GitHub accepts the key.
 */
export async function checkGitHubApp(
  settings: Settings,
  { offline }: { offline: boolean },
): Promise<Check[]> {
  const { appId, privateKey, privateKeyPath, webhookSecret, baseUrl } = settings.github;
  if (appId === undefined && privateKey === undefined && privateKeyPath === undefined) {
    return [
      {
        name: "GitHub App",
        status: "warn",
        detail: "no app is registered: devflow start serves only the setup page",
        fix: `run devflow start, open http://localhost:${settings.port} and click "Register GitHub App"; it writes APP_ID, PRIVATE_KEY and WEBHOOK_SECRET to .env`,
      },
    ];
  }
  const checks: Check[] = [];
  checks.push(
    appId === undefined
      ? {
          name: "app id",
          status: "fail",
          detail: "APP_ID is not set",
          fix: "set APP_ID to the App ID shown on the app's settings page (Settings → Developer settings → GitHub Apps)",
        }
      : { name: "app id", status: "ok", detail: `APP_ID ${appId}` },
  );
  let pem: string | undefined = privateKey;
  const keyFix =
    "generate a private key on the app's settings page (Private keys → Generate) and set PRIVATE_KEY_PATH to the downloaded .pem file";
  if (pem === undefined && privateKeyPath !== undefined) {
    try {
      pem = await readFile(privateKeyPath, "utf8");
    } catch (error) {
      checks.push({
        name: "private key",
        status: "fail",
        detail: `PRIVATE_KEY_PATH ${privateKeyPath} cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
        fix: keyFix,
      });
    }
  }
  let keyOk = false;
  if (pem === undefined) {
    if (privateKeyPath === undefined)
      checks.push({
        name: "private key",
        status: "fail",
        detail: "PRIVATE_KEY and PRIVATE_KEY_PATH are not set",
        fix: keyFix,
      });
  } else {
    try {
      const key = createPrivateKey(pem);
      if (key.asymmetricKeyType !== "rsa")
        throw new Error(`a ${key.asymmetricKeyType} key, not RSA`);
      keyOk = true;
      checks.push({ name: "private key", status: "ok", detail: "an RSA private key in PEM form" });
    } catch (error) {
      checks.push({
        name: "private key",
        status: "fail",
        detail: `not a usable private key: ${(error as Error).message}`,
        fix: `${keyFix} (in PRIVATE_KEY itself, newlines may be written as \\n)`,
      });
    }
  }
  checks.push(
    webhookSecret === undefined
      ? {
          name: "webhook secret",
          status: "fail",
          detail: "WEBHOOK_SECRET is not set: devflow refuses webhooks it cannot verify",
          fix: "set WEBHOOK_SECRET to the secret in the app's Webhook settings (or set a new one there and here)",
        }
      : webhookSecret.length < 16
        ? {
            name: "webhook secret",
            status: "warn",
            detail: `WEBHOOK_SECRET has only ${webhookSecret.length} characters`,
            fix: "use a random secret of 32 characters or more: openssl rand -hex 32",
          }
        : { name: "webhook secret", status: "ok", detail: "set" },
  );
  if (appId !== undefined && keyOk && pem !== undefined) {
    checks.push(
      offline
        ? { name: "GitHub", status: "ok", detail: "not asked (--offline)" }
        : await askGitHub({ appId, privateKey: pem, baseUrl }),
    );
  }
  return checks;
}
