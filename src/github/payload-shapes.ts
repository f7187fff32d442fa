import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import { formatAjvErrors } from "../registry/load-registry.ts";
import type { HandledEvent } from "./handlers/index.ts";

/**
 * What each delivery handler reads from its payload, as JSON Schema: checked
 * before the handler runs, so a payload without them is dropped with the JSON
 * pointer of what is missing, and an error inside a handler is a bug that is
 * retried and reported, never mistaken for bad input. Only the fields handlers
 * use are required; GitHub's payloads carry many more.
 */
const integer = { type: "integer" } as const;
const string = { type: "string" } as const;
const nullableString = { type: ["string", "null"] } as const;

function object(properties: Record<string, unknown>, optional: string[] = []) {
  return {
    type: "object",
    properties,
    required: Object.keys(properties).filter((key) => !optional.includes(key)),
  };
}

const repository = object({
  full_name: { type: "string", pattern: "^[^/]+/[^/]+$" },
  default_branch: string,
});
const sender = object({ login: string, type: string });
const installation = object({ id: integer });

function delivery(properties: Record<string, unknown>, optional: string[] = []) {
  return object({ repository, sender, installation, ...properties }, ["installation", ...optional]);
}

const SHAPES: Record<HandledEvent, object> = {
  "issues.labeled": delivery(
    {
      repository: object({
        full_name: { type: "string", pattern: "^[^/]+/[^/]+$" },
        default_branch: string,
        id: integer,
        clone_url: string,
      }),
      issue: object({ number: integer, title: string, body: nullableString }),
      label: object({ name: string }),
    },
    ["label"],
  ),
  "issue_comment.created": delivery({
    comment: object({ id: integer, body: string, created_at: string }),
    issue: object({ number: integer }),
  }),
  "pull_request_review.submitted": delivery({
    review: object({ id: integer, state: string, body: nullableString }),
    pull_request: object({ number: integer }),
  }),
  "pull_request.closed": delivery({
    pull_request: object({ number: integer, merged: { type: ["boolean", "null"] } }),
  }),
  "check_run.requested_action": delivery(
    {
      check_run: object({ external_id: nullableString }),
      requested_action: { type: ["object", "null"] },
    },
    ["requested_action"],
  ),
  installation: object({ installation }),
  installation_repositories: object({ installation }),
};

const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
const validators = new Map<string, ValidateFunction>(
  Object.entries(SHAPES).map(([key, schema]) => [key, ajv.compile(schema)]),
);

/** The problems of `payload` for the handler of `key`, as `<json pointer>: <message>`; none: it will do. */
export function payloadProblems(key: string, payload: unknown): string[] {
  const validate = validators.get(key);
  if (validate === undefined || validate(payload)) return [];
  return formatAjvErrors(validate.errors);
}
