import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

/** What a stand-in of a model API was asked, in order. */
export interface StandInRequest {
  method: string;
  path: string;
  body: string;
}

export interface ModelStandIn {
  url: string;
  requests: StandInRequest[];
  close(): Promise<void>;
}

/**
 * The artifact a phase asks for, as the prompt names it: the output path after
 * "Write one JSON document valid against <schema> to `<path>`", and the working
 * directory the agent reports (its tool calls need an absolute path).
 */
export function askedFor(
  body: string,
): { schemaId: string; path: string; relative: string } | undefined {
  const text = body.replaceAll("\\n", "\n").replaceAll('\\"', '"');
  const match = /valid against (\S+) to `([^`]+\.json)`/.exec(text);
  if (match?.[1] === undefined || match[2] === undefined) return undefined;
  const cwd = /Working directory: (\S+)/.exec(text)?.[1] ?? "/workspace";
  return {
    schemaId: match[1],
    path: match[2].startsWith("/") ? match[2] : `${cwd}/${match[2]}`,
    relative: match[2],
  };
}

async function listen(
  handler: (req: IncomingMessage, body: string, res: ServerResponse) => void,
  requests: StandInRequest[],
): Promise<ModelStandIn> {
  const server: Server = createServer(async (req, res) => {
    let body = "";
    for await (const chunk of req) body += chunk;
    requests.push({ method: req.method ?? "", path: req.url ?? "", body });
    handler(req, body, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function sse(res: ServerResponse, events: [string, unknown][]): void {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  for (const [event, data] of events)
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  res.end();
}

/**
 * A stand-in of Anthropic's Messages API (`ANTHROPIC_BASE_URL`), enough for
 * Claude Code in print mode: the first turn answers with a Write tool call that
 * writes the phase's artifact (`artifact(schemaId)`), the turn after the tool's
 * result ends with a line of text. Usage is reported so the CLI can price it.
 */
export function anthropicStandIn(artifact: (schemaId: string) => unknown): Promise<ModelStandIn> {
  const requests: StandInRequest[] = [];
  return listen((req, body, res) => {
    const path = req.url ?? "";
    if (!path.startsWith("/v1/messages")) {
      res.writeHead(404, { "content-type": "application/json" }).end('{"type":"error"}');
      return;
    }
    if (path.includes("count_tokens")) {
      res.writeHead(200, { "content-type": "application/json" }).end('{"input_tokens":100}');
      return;
    }
    const parsed = JSON.parse(body) as {
      model: string;
      stream?: boolean;
      messages: { content: unknown }[];
      tools?: { name: string }[];
    };
    const last = parsed.messages.at(-1)?.content;
    const answered =
      Array.isArray(last) &&
      last.some((part) => (part as { type?: string }).type === "tool_result");
    const asked = askedFor(body);
    const message = {
      id: `msg_${requests.length}`,
      type: "message",
      role: "assistant",
      model: parsed.model,
    };
    const write =
      !answered &&
      asked !== undefined &&
      parsed.tools?.some((tool) => tool.name === "Write") === true;
    if (parsed.stream !== true) {
      res.writeHead(200, { "content-type": "application/json" }).end(
        JSON.stringify({
          ...message,
          content: [{ type: "text", text: "ok" }],
          stop_reason: "end_turn",
          stop_sequence: null,
          usage: { input_tokens: 10, output_tokens: 2 },
        }),
      );
      return;
    }
    const start: [string, unknown] = [
      "message_start",
      {
        type: "message_start",
        message: {
          ...message,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: 1200, output_tokens: 1 },
        },
      },
    ];
    if (write && asked !== undefined) {
      const input = JSON.stringify({
        file_path: asked.path,
        content: JSON.stringify(artifact(asked.schemaId), null, 2),
      });
      sse(res, [
        start,
        [
          "content_block_start",
          {
            type: "content_block_start",
            index: 0,
            content_block: { type: "tool_use", id: "toolu_devflow_1", name: "Write", input: {} },
          },
        ],
        [
          "content_block_delta",
          {
            type: "content_block_delta",
            index: 0,
            delta: { type: "input_json_delta", partial_json: input },
          },
        ],
        ["content_block_stop", { type: "content_block_stop", index: 0 }],
        [
          "message_delta",
          {
            type: "message_delta",
            delta: { stop_reason: "tool_use", stop_sequence: null },
            usage: { output_tokens: 300 },
          },
        ],
        ["message_stop", { type: "message_stop" }],
      ]);
      return;
    }
    sse(res, [
      start,
      [
        "content_block_start",
        { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
      ],
      [
        "content_block_delta",
        {
          type: "content_block_delta",
          index: 0,
          delta: { type: "text_delta", text: "The artifact is written." },
        },
      ],
      ["content_block_stop", { type: "content_block_stop", index: 0 }],
      [
        "message_delta",
        {
          type: "message_delta",
          delta: { stop_reason: "end_turn", stop_sequence: null },
          usage: { output_tokens: 12 },
        },
      ],
      ["message_stop", { type: "message_stop" }],
    ]);
  }, requests);
}

/**
 * A stand-in of OpenAI's Responses API (a custom model provider for Codex): the
 * first turn answers with Codex's `exec` tool running `apply_patch` to add the
 * phase's artifact, the turn after the tool's output ends with a message. Each
 * turn reports usage. WebSocket upgrades are refused, so Codex uses HTTP.
 */
export function responsesStandIn(artifact: (schemaId: string) => unknown): Promise<ModelStandIn> {
  const requests: StandInRequest[] = [];
  return listen((req, body, res) => {
    if (!(req.url ?? "").endsWith("/responses")) {
      res
        .writeHead(404, { "content-type": "application/json" })
        .end('{"error":{"message":"not here"}}');
      return;
    }
    const parsed = JSON.parse(body) as { input: { type?: string }[] };
    const answered = parsed.input.some((item) => item.type === "custom_tool_call_output");
    const asked = askedFor(body);
    const id = `resp_${requests.length}`;
    const usage = {
      input_tokens: 900,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: 150,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 1050,
    };
    const item =
      !answered && asked !== undefined
        ? {
            type: "custom_tool_call",
            id: `ctc_${requests.length}`,
            call_id: `call_${requests.length}`,
            name: "exec",
            status: "completed",
            input: `await tools.apply_patch(${JSON.stringify(`*** Begin Patch\n*** Add File: ${asked.relative}\n+${JSON.stringify(artifact(asked.schemaId))}\n*** End Patch\n`)});\ntext("written");\n`,
          }
        : {
            type: "message",
            id: `msg_${requests.length}`,
            role: "assistant",
            status: "completed",
            content: [{ type: "output_text", text: "The artifact is written.", annotations: [] }],
          };
    sse(res, [
      ["response.created", { type: "response.created", response: { id, status: "in_progress" } }],
      [
        "response.output_item.added",
        {
          type: "response.output_item.added",
          output_index: 0,
          item: { ...item, status: "in_progress" },
        },
      ],
      ["response.output_item.done", { type: "response.output_item.done", output_index: 0, item }],
      [
        "response.completed",
        {
          type: "response.completed",
          response: { id, status: "completed", output: [item], usage },
        },
      ],
    ]);
  }, requests);
}
