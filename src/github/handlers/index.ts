import { checkRunRequestedAction } from "./check-run-requested-action.ts";
import type { DeliveryHandler } from "./delivery-context.ts";
import { installationChanged } from "./installation.ts";
import { issueCommentCreated } from "./issue-comment-created.ts";
import { issuesLabeled } from "./issues-labeled.ts";
import { pullRequestClosed } from "./pull-request-closed.ts";
import { pullRequestReviewSubmitted } from "./pull-request-review-submitted.ts";

/** Every webhook devflow subscribes to (app.yml lists the same events), and its handler. */
export const DELIVERY_HANDLERS: {
  "issues.labeled": DeliveryHandler<"issues.labeled">;
  "issue_comment.created": DeliveryHandler<"issue_comment.created">;
  "pull_request_review.submitted": DeliveryHandler<"pull_request_review.submitted">;
  "pull_request.closed": DeliveryHandler<"pull_request.closed">;
  "check_run.requested_action": DeliveryHandler<"check_run.requested_action">;
  installation: DeliveryHandler<"installation" | "installation_repositories">;
  installation_repositories: DeliveryHandler<"installation" | "installation_repositories">;
} = {
  "issues.labeled": issuesLabeled,
  "issue_comment.created": issueCommentCreated,
  "pull_request_review.submitted": pullRequestReviewSubmitted,
  "pull_request.closed": pullRequestClosed,
  "check_run.requested_action": checkRunRequestedAction,
  installation: installationChanged,
  installation_repositories: installationChanged,
};

export type HandledEvent = keyof typeof DELIVERY_HANDLERS;
export const WEBHOOK_EVENTS = Object.keys(DELIVERY_HANDLERS) as HandledEvent[];
