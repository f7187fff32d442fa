import { parseScriptedDirective } from "../../agents/scripted/scenarios.ts";
import { IMPLEMENTATION_GATE } from "../../engine/start-run.ts";
import { isDevflowError } from "../../errors.ts";
import type { RepositoryTemplate } from "../../registry/types.ts";
import { invalidFilesMessage } from "../invalid-files-message.ts";
import { mayAct } from "../may-act.ts";
import { reactOnce } from "../publish/react-once.ts";
import { readRepositoryTemplate } from "../read-repository-template.ts";
import {
  configKey,
  REPO_CONFIG_PATH,
  type RepoConfigResult,
  readRepoConfig,
} from "../repo-config.ts";
import type { DeliveryHandler } from "./delivery-context.ts";

/** The template a label asks for: `devflow` → the repository's default, `devflow:<name>[@<version>]`. */
export function templateForLabel(
  label: string,
  startLabel: string,
  defaultTemplate: string,
): string | null {
  if (label === startLabel) return defaultTemplate;
  if (!label.startsWith(`${startLabel}:`)) return null;
  const named = label.slice(startLabel.length + 1).trim();
  return named.includes("@") ? named : `${named}@1`;
}

/** `issues.labeled`: a devflow label starts a run for the issue. */
export const issuesLabeled: DeliveryHandler<"issues.labeled"> = async ({
  deliveryId,
  payload,
  engine,
  github,
  registry,
  defaultAgent,
  reply,
  log,
  db,
}) => {
  const { issue, repository, sender, installation } = payload;
  const label = payload.label?.name;
  if (label === undefined) return { outcome: "dropped: no label in the payload" };
  if (installation === undefined) return { outcome: "dropped: no installation in the payload" };
  const [owner, repo] = repository.full_name.split("/") as [string, string];
  const target = { owner, repo, number: issue.number };
  // With the repository's config read a moment ago, a label that is not its start
  // label costs no GitHub request.
  const known = github.readCache.get<RepoConfigResult>(
    configKey(owner, repo, repository.default_branch),
  );
  if (
    known?.fresh === true &&
    known.value.ok &&
    templateForLabel(label, known.value.config.labels?.start ?? "devflow", "") === null
  )
    return { outcome: `ignored: label ${label} is not devflow's` };
  const octokit = await github.octokitFor(installation.id);
  const config = await readRepoConfig({
    octokit,
    owner,
    repo,
    ref: repository.default_branch,
    registry,
    cache: github.readCache,
  });
  const startLabel = config.ok ? (config.config.labels?.start ?? "devflow") : "devflow";
  const template = templateForLabel(
    label,
    startLabel,
    config.ok ? (config.config.template ?? "development@1") : "development@1",
  );
  if (template === null) return { outcome: `ignored: label ${label} is not devflow's` };
  if (!config.ok) {
    await reply(
      octokit,
      target,
      invalidFilesMessage(repository.default_branch, [
        { path: REPO_CONFIG_PATH, errors: config.errors },
      ]),
    );
    return { outcome: "refused: invalid repository config" };
  }
  const permission = await mayAct({
    octokit,
    owner,
    repo,
    user: sender,
    approvers: config.config.approvers,
    cache: github.readCache,
  });
  if (!permission.allowed) {
    await reply(
      octokit,
      target,
      `Thanks, @${sender.login}, but devflow did not start: ${permission.reason}.`,
    );
    return { outcome: `refused: ${sender.login} may not start runs` };
  }
  // A built-in template costs no request; only another name is looked for in the repository.
  let repositoryTemplate: RepositoryTemplate | undefined;
  if (!registry.templates.has(template)) {
    const own = await readRepositoryTemplate({
      octokit,
      owner,
      repo,
      ref: repository.default_branch,
      repositoryId: repository.id,
      templateId: template,
      registry,
      cache: github.readCache,
    });
    if (own.kind === "invalid") {
      await reply(octokit, target, invalidFilesMessage(repository.default_branch, own.problems));
      return { outcome: "refused: invalid repository template" };
    }
    if (own.kind === "missing") {
      await reply(
        octokit,
        target,
        `devflow did not start a new run: unknown workflow template \`${template.replaceAll("`", "'")}\`: use one of ${[...registry.templates.keys()].map((id) => `\`${id}\``).join(", ")}, or add \`${own.path}\` on \`${repository.default_branch}\`.`,
      );
      return { outcome: "refused: unknown_template" };
    }
    repositoryTemplate = own.template;
  }
  const agent = config.config.agent ?? defaultAgent;
  const scripted = agent === "scripted" ? parseScriptedDirective(issue.body ?? "") : null;
  try {
    const started = await engine.startRun({
      startKey: deliveryId,
      repository: repository.full_name,
      repositoryId: repository.id,
      installationId: installation.id,
      issueNumber: issue.number,
      issueTitle: issue.title,
      requirements: issue.body ?? "",
      baseBranch: repository.default_branch,
      cloneUrl: repository.clone_url,
      template,
      ...(repositoryTemplate === undefined ? {} : { repositoryTemplate }),
      agentConfig: {
        ...(config.config.agent === undefined ? {} : { agent: config.config.agent }),
        ...(scripted === null ? {} : { scripted }),
      },
      startedBy: sender.login,
      ...(config.config.budgets?.costUsdPerRun === undefined
        ? {}
        : { budgetUsd: config.config.budgets.costUsdPerRun }),
      ...(config.config.caps?.activeRuns === undefined
        ? {}
        : { repositoryCap: config.config.caps.activeRuns }),
      ...(config.config.gates?.implementation === false
        ? { skipGates: [IMPLEMENTATION_GATE] }
        : {}),
      ...(config.config.artifacts?.keepInTree === true ? { keepArtifactsInTree: true } : {}),
    });
    // The first thing a person sees, without waiting for the run's first publish. Only
    // once the start has said which run this delivery is for: GitHub delivers the
    // label again under new ids (added twice, re-sent), and each such delivery is
    // refused for the run the first one started, whose 👀 is claimed by its start key.
    await reactOnce({
      db,
      octokit,
      owner,
      repo,
      issueNumber: issue.number,
      startKey: deliveryId,
    }).catch((error: unknown) => log.warn({ err: error }, "could not react; the publisher will"));
    return {
      outcome: started.replayed
        ? "replayed: run already started"
        : `started run (${started.state})`,
      runId: started.runId,
    };
  } catch (error) {
    if (
      isDevflowError(error) &&
      (error.code === "active_run_exists" || error.code === "unknown_template")
    ) {
      if (error.code === "active_run_exists") {
        // Said once per active run: labelling again changes nothing visible.
        const { currentRunId } = JSON.parse(error.recoveryHint ?? "{}") as {
          currentRunId?: string;
        };
        await reply(octokit, target, `devflow did not start a new run: ${error.message}.`, {
          once: `active_run_exists:${currentRunId}`,
        });
        return { outcome: `refused: ${error.code}` };
      }
      await reply(
        octokit,
        target,
        `devflow did not start a new run: ${error.message}: ${error.recoveryHint ?? ""}.`,
      );
      return { outcome: `refused: ${error.code}` };
    }
    throw error;
  }
};
