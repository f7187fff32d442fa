import pino from "pino";
import { createGitHubAccess } from "../../src/github/github-access.ts";
import {
  createProbot,
  type GitHubServer,
  startGitHubServer,
} from "../../src/github/start-github-server.ts";
import { API, APP_ID, appCredentials, freePort } from "./github-fixtures.ts";
import { type Harness, type HarnessOptions, startHarness } from "./harness.ts";

const log = pino({ level: process.env.DEVFLOW_TEST_LOG ?? "silent" });

/**
 * devflow as GitHub sees it: a harness whose GitHub access is the app's (nock answers
 * for api.github.com; a test calls fakeGitHub()), and devflow's webhook endpoint on
 * a free loopback port, recording into the harness's database.
 */
export async function startWebhookHarness(
  options: HarnessOptions & {
    /** How long configs and permissions are reused; 0 for tests that change them between deliveries. */
    readCacheSeconds?: number;
  } = {},
): Promise<{ h: Harness; server: GitHubServer; stop(): Promise<void> }> {
  const { readCacheSeconds, ...rest } = options;
  const credentials = appCredentials();
  const github =
    rest.github ??
    createGitHubAccess({
      probot: createProbot(credentials, log),
      appId: APP_ID,
      privateKey: credentials.privateKey,
      baseUrl: API,
      ...(readCacheSeconds === undefined ? {} : { readCacheSeconds }),
    });
  const h = await startHarness({ ...rest, github });
  const server = await startGitHubServer({
    credentials,
    // Probot's Server reads port 0 as 3000: ask for a free one.
    port: await freePort(),
    host: "127.0.0.1",
    db: h.db,
    log,
    onRecorded: h.devflow.dispatchDeliveries,
  });
  return {
    h,
    server,
    async stop() {
      await server.stop();
      await h.stop();
    },
  };
}
