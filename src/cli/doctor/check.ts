export type CheckStatus = "ok" | "warn" | "fail";

/** One line of `devflow doctor`: what it looked at, how that is, and how to fix it. */
export interface Check {
  name: string;
  status: CheckStatus;
  detail: string;
  fix?: string;
}
