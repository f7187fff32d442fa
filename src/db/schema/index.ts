export * from "./approvals.ts";
export * from "./deliveries.ts";
export * from "./events.ts";
export * from "./executions.ts";
export * from "./phases.ts";
export * from "./publications.ts";
export * from "./registry.ts";
export * from "./runs.ts";
