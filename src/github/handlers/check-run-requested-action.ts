import { APPROVAL_ACTIONS, type ApprovalAction } from "../../db/schema/index.ts";
import { mayActHere } from "../may-act.ts";
import { commandOrReply } from "./command-or-reply.ts";
import type { DeliveryHandler } from "./delivery-context.ts";

/** A gate check run's external id: it names the approval request itself. */
export const GATE_EXTERNAL_ID_PREFIX = "devflow-gate:";

/**
 * `check_run.requested_action`: the Approve / Request changes / Reject buttons of
 * a gate's check run. The check run's external id names the approval request, so a
 * click finds its gate even before (or after a crash, without) the check run's id
 * being stored.
 */
export const checkRunRequestedAction: DeliveryHandler<"check_run.requested_action"> = async ({
  deliveryId,
  payload,
  engine,
  github,
  registry,
  reply,
}) => {
  const {
    check_run: checkRun,
    requested_action: requested,
    repository,
    installation,
    sender,
  } = payload;
  const externalId = checkRun.external_id ?? "";
  if (!externalId.startsWith(GATE_EXTERNAL_ID_PREFIX))
    return { outcome: "ignored: not a devflow gate check run" };
  const action = requested?.identifier;
  if (action === undefined || !(APPROVAL_ACTIONS as readonly string[]).includes(action))
    return { outcome: `dropped: unknown action ${action}` };
  if (installation === undefined) return { outcome: "dropped: no installation in the payload" };
  const gate = await engine.findApproval(externalId.slice(GATE_EXTERNAL_ID_PREFIX.length));
  if (gate === null) return { outcome: "ignored: no such gate" };
  const run = await engine.getRun(gate.runId);
  if (run === null) return { outcome: "ignored: no such run" };
  if (run.repository !== repository.full_name)
    return { outcome: "dropped: the gate belongs to another repository" };
  const [owner, repo] = repository.full_name.split("/") as [string, string];
  const octokit = await github.octokitFor(installation.id);
  const permission = await mayActHere({
    octokit,
    cache: github.readCache,
    owner,
    repo,
    user: sender,
    ref: repository.default_branch,
    registry,
    decision: { action, startedBy: run.startedBy },
  });
  const target = { owner, repo, number: run.pullRequestNumber ?? run.issueNumber };
  if (!permission.allowed) {
    await reply(
      octokit,
      target,
      `Thanks, @${sender.login}, but the button did nothing: ${permission.reason}.`,
    );
    return { outcome: `refused: ${sender.login} may not decide gates`, runId: run.id };
  }
  return commandOrReply(reply, octokit, target, "The button did nothing", run.id, async () => {
    await engine.signalApproval({
      runId: run.id,
      approvalId: gate.id,
      action: action as ApprovalAction,
      clientToken: `check:${deliveryId}`,
      actor: sender.login,
    });
    return { outcome: `${action}: ${gate.gateKey}`, runId: run.id };
  });
};
