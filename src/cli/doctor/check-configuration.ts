import { readSettings, type Settings } from "../../settings.ts";
import type { Check } from "./check.ts";

/** Whether every setting reads; the other checks need the settings, so doctor stops here when one does not. */
export function checkConfiguration(env: NodeJS.ProcessEnv): { check: Check; settings?: Settings } {
  try {
    return {
      check: { name: "configuration", status: "ok", detail: "every setting reads" },
      settings: readSettings(env),
    };
  } catch (error) {
    return {
      check: {
        name: "configuration",
        status: "fail",
        detail: (error as Error).message,
        fix: "correct that variable (README.md, Configuration, lists every setting)",
      },
    };
  }
}
