import type { DeliveryHandler } from "./delivery-context.ts";

/** `installation.*` and `installation_repositories.*`: noted; tokens are fetched per use. */
export const installationChanged: DeliveryHandler<
  "installation" | "installation_repositories"
> = async ({ payload, log }) => {
  log.info(
    {
      action: payload.action,
      installationId: payload.installation.id,
      account:
        payload.installation.account !== null && "login" in payload.installation.account
          ? payload.installation.account.login
          : payload.installation.account?.slug,
    },
    "installation changed",
  );
  return { outcome: `noted: installation ${payload.action}` };
};
