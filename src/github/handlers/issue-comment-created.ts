import { mayActHere } from "../may-act.ts";
import { renderRunSummary } from "../publish/render-run-status.ts";
import { commandOrReply } from "./command-or-reply.ts";
import type { DeliveryHandler } from "./delivery-context.ts";

export const COMMANDS = [
  "approve",
  "reject",
  "pause",
  "resume",
  "abort",
  "retry",
  "revise",
  "status",
  "help",
] as const;

const HELP = `devflow commands, in a comment on the issue or its pull request:

| command | does |
|---|---|
| \`/devflow approve\` | approve the gate the run waits at |
| \`/devflow reject [why]\` | reject it: the run fails with a report |
| \`/devflow retry [what to change]\` | run a phase whose attempts ran out again |
| \`/devflow revise <what to change>\` | a completed run: run its implementation again with your words |
| \`/devflow pause\` / \`/devflow resume\` | stop and continue the run |
| \`/devflow abort [why]\` | end the run |
| \`/devflow status\` | say where the run is |`;

/** The command a comment gives, from its first line: `/devflow <command> [text]`. */
export function parseCommand(body: string): { command: string; text: string } | null {
  const match = /^\s*\/devflow\s+([a-z_-]+)\s*([\s\S]*)$/i.exec(body);
  if (match?.[1] === undefined) return null;
  return { command: match[1].toLowerCase(), text: (match[2] ?? "").trim() };
}

/** `issue_comment.created`: `/devflow …` commands on the issue or the run's pull request. */
export const issueCommentCreated: DeliveryHandler<"issue_comment.created"> = async ({
  payload,
  engine,
  github,
  registry,
  reply,
}) => {
  const { comment, issue, repository, sender, installation } = payload;
  const parsed = parseCommand(comment.body);
  if (parsed === null) return { outcome: "ignored: not a devflow command" };
  if (sender.type === "Bot") return { outcome: "ignored: a bot's comment" };
  if (installation === undefined) return { outcome: "dropped: no installation in the payload" };
  const [owner, repo] = repository.full_name.split("/") as [string, string];
  const target = { owner, repo, number: issue.number };
  const octokit = await github.octokitFor(installation.id);
  if (!(COMMANDS as readonly string[]).includes(parsed.command) || parsed.command === "help") {
    await reply(
      octokit,
      target,
      parsed.command === "help" ? HELP : `I don't know \`/devflow ${parsed.command}\`.\n\n${HELP}`,
    );
    return { outcome: `answered: ${parsed.command}` };
  }
  const run = await engine.findRun(
    issue.pull_request === undefined
      ? { repository: repository.full_name, issueNumber: issue.number }
      : { repository: repository.full_name, pullRequestNumber: issue.number },
  );
  if (run === null) {
    await reply(
      octokit,
      target,
      "There is no devflow run here. Label the issue `devflow` to start one.",
    );
    return { outcome: "refused: no run" };
  }
  if (parsed.command === "status") {
    const status = await engine.getRunStatus(run.id);
    await reply(octokit, target, renderRunSummary(status, run.pullRequestNumber));
    return { outcome: "answered: status", runId: run.id };
  }
  const permission = await mayActHere({
    octokit,
    cache: github.readCache,
    owner,
    repo,
    user: sender,
    ref: repository.default_branch,
    registry,
    decision: { action: parsed.command, startedBy: run.startedBy },
  });
  if (!permission.allowed) {
    await reply(
      octokit,
      target,
      `Thanks, @${sender.login}, but nothing changed: ${permission.reason}.`,
    );
    return { outcome: `refused: ${sender.login} may not steer runs`, runId: run.id };
  }
  const clientToken = `comment:${comment.id}`;
  return commandOrReply(reply, octokit, target, "Nothing changed", run.id, async () => {
    switch (parsed.command) {
      case "approve":
      case "reject":
      case "retry": {
        const gate = await engine.pendingApproval(run.id);
        if (gate === null) {
          await reply(octokit, target, `Run \`${run.id}\` is ${run.state} and waits at no gate.`);
          return { outcome: "refused: no open gate", runId: run.id };
        }
        const action = parsed.command === "retry" ? "request_changes" : parsed.command;
        await engine.signalApproval({
          runId: run.id,
          approvalId: gate.id,
          action,
          clientToken,
          actor: sender.login,
          body: parsed.text,
          seen: { at: new Date(comment.created_at) },
        });
        return { outcome: `${parsed.command}: ${gate.gateKey}`, runId: run.id };
      }
      case "revise": {
        if (parsed.text === "") {
          await reply(octokit, target, "Say what to change: `/devflow revise <what to change>`.");
          return { outcome: "refused: revise without words", runId: run.id };
        }
        if (issue.state === "closed") {
          await reply(
            octokit,
            target,
            "This is closed, so devflow does not revise it: label the issue again for a new run.",
          );
          return { outcome: "refused: closed", runId: run.id };
        }
        const { revision } = await engine.reviseRun({
          runId: run.id,
          key: clientToken,
          actor: sender.login,
          body: parsed.text,
          source: "command",
        });
        return { outcome: `revise: revision ${revision}`, runId: run.id };
      }
      case "pause":
        await engine.pauseRun({ runId: run.id, actor: sender.login });
        return { outcome: "paused", runId: run.id };
      case "resume":
        await engine.resumeRun({ runId: run.id, actor: sender.login });
        return { outcome: "resumed", runId: run.id };
      default:
        await engine.abortRun({
          runId: run.id,
          actor: sender.login,
          reason: parsed.text || "aborted with /devflow abort",
        });
        return { outcome: "aborted", runId: run.id };
    }
  });
};
