import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";

/** Debian's Chromium, which `.ci/run` installs. */
export const CHROMIUM = process.env.DEVFLOW_CHROMIUM ?? "/usr/bin/chromium";

/**
 * Why browser tests cannot run here, or undefined when they can. Under CI they
 * must run: a missing Chromium is then a failure, not a skip.
 */
export function browserUnavailable(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  if (process.env.CI === "true")
    throw new Error(`CI=true but there is no Chromium at ${CHROMIUM}: .ci/run installs it`);
  return `no Chromium at ${CHROMIUM} (apt-get install chromium, or set DEVFLOW_CHROMIUM): the browser tests are skipped`;
}

/** Chromium, headless; as root it cannot use its own sandbox. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: process.getuid?.() === 0 ? ["--no-sandbox"] : [],
  });
}
