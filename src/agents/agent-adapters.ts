import type { AgentAdapter } from "./agent-adapter.ts";
import { aiderAdapter } from "./aider-adapter.ts";
import { claudeCodeAdapter } from "./claude-code-adapter.ts";
import { codexAdapter } from "./codex-adapter.ts";
import { commandAdapter } from "./command-adapter.ts";
import { scriptedAdapter } from "./scripted/scripted-adapter.ts";

/** Every agent devflow can drive, by the name `DEVFLOW_AGENT` (or a template role) uses. */
export const AGENT_ADAPTERS: ReadonlyMap<string, AgentAdapter> = new Map(
  [scriptedAdapter, claudeCodeAdapter, codexAdapter, aiderAdapter, commandAdapter].map(
    (adapter) => [adapter.name, adapter],
  ),
);
