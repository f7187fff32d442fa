import { BlockList, isIP } from "node:net";

/**
 * One destination an agent may reach. `host` is a name (`api.anthropic.com`), a
 * suffix (`.pythonhosted.org` or `*.pythonhosted.org`: any name under it) or an IP
 * address; `port` pins the port (a rule without one allows 443 and 80). A rule the
 * operator wrote (`DEVFLOW_EGRESS_ALLOW`, or the model endpoint they configured) is
 * `named`: only such a rule may lead to a loopback, private or link-local address.
 */
export interface EgressRule {
  host: string;
  port?: number;
  named: boolean;
}

export interface EgressPolicy {
  rules: EgressRule[];
}

/** Why a destination was refused, in words a user can act on. */
export type EgressVerdict =
  | { allowed: true; rule: EgressRule }
  | { allowed: false; reason: string };

const DEFAULT_PORTS = [443, 80];

/** Address ranges an agent reaches only through a rule the operator wrote. */
const INTERNAL = new BlockList();
for (const [network, prefix] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["224.0.0.0", 3],
] as const) {
  INTERNAL.addSubnet(network, prefix, "ipv4");
}
for (const [network, prefix] of [
  ["::", 128],
  ["::1", 128],
  ["fc00::", 7],
  ["fe80::", 10],
  ["ff00::", 8],
  ["64:ff9b::", 96],
] as const) {
  INTERNAL.addSubnet(network, prefix, "ipv6");
}

/** Whether `address` is loopback, private, link-local, multicast or otherwise not the internet. */
export function isInternalAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return INTERNAL.check(address, "ipv4");
  if (family === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped?.[1] !== undefined) return INTERNAL.check(mapped[1], "ipv4");
    return INTERNAL.check(address, "ipv6");
  }
  return true;
}

function normalHost(host: string): string {
  return host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, "")
    .replace(/\.$/, "");
}

/**
 * Parses one allowlist entry: `host`, `host:port`, `*.suffix`, `.suffix`, an IPv4
 * address with or without a port, or `[ipv6]:port`. Throws on anything else.
 */
export function parseEgressRule(entry: string, named: boolean): EgressRule {
  const text = entry.trim();
  if (isIP(text) === 6) return { host: normalHost(text), named };
  const match =
    /^\[([0-9a-f:.]+)\]:(\d+)$/i.exec(text) ??
    /^((?:\*\.|\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)*)(?::(\d+))?$/i.exec(text);
  if (match?.[1] === undefined) {
    throw new Error(
      `"${entry}" is not a host, host:port, *.domain or IP address an agent could be allowed to reach`,
    );
  }
  const rule: EgressRule = { host: normalHost(match[1].replace(/^\*\./, ".")), named };
  if (match[2] !== undefined) {
    const port = Number(match[2]);
    if (port < 1 || port > 65535) throw new Error(`"${entry}" has no valid port`);
    rule.port = port;
  }
  return rule;
}

/** The rule for a URL's host and port (a model endpoint the operator configured). */
export function ruleForUrl(url: string, named: boolean): EgressRule {
  const parsed = new URL(url);
  const port = parsed.port === "" ? (parsed.protocol === "http:" ? 80 : 443) : Number(parsed.port);
  return { host: normalHost(parsed.hostname), port, named };
}

function hostMatches(rule: EgressRule, host: string): boolean {
  if (rule.host.startsWith(".")) return host.endsWith(rule.host) || host === rule.host.slice(1);
  return host === rule.host;
}

/** The first rule that lets `host:port` through, by name and port (addresses are checked later). */
export function findRule(policy: EgressPolicy, host: string, port: number): EgressRule | undefined {
  const name = normalHost(host);
  return policy.rules.find(
    (rule) =>
      hostMatches(rule, name) &&
      (rule.port === undefined ? DEFAULT_PORTS.includes(port) : rule.port === port),
  );
}

/**
 * Decides whether an agent may connect to `host:port` that resolved to
 * `addresses`: a rule must name the host and port, and an internal address is
 * reachable only through a rule the operator wrote.
 */
export function judge(
  policy: EgressPolicy,
  host: string,
  port: number,
  addresses: string[],
): EgressVerdict {
  const rule = findRule(policy, host, port);
  if (rule === undefined) return { allowed: false, reason: "not in the egress allowlist" };
  if (addresses.length === 0) return { allowed: false, reason: "its name does not resolve" };
  const internal = addresses.find(isInternalAddress);
  if (internal !== undefined && !rule.named) {
    return {
      allowed: false,
      reason: `it resolves to ${internal}, an internal address, which only an operator's own rule may allow`,
    };
  }
  return { allowed: true, rule };
}
