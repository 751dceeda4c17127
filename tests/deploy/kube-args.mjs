// What the kubelet and squant-server make of a rendered container: absl's
// --helpfull text parsed into flags and defaults, Kubernetes quantities, and
// args with $(VAR) expanded from the container's env.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

export function loadObjects(file) {
  return parseAllDocuments(readFileSync(file, "utf8")).map((d) => d.toJS()).filter(Boolean);
}

// Flags and their defaults from absl's --helpfull text:
//     --port (The gRPC port.); default: 50051;
// (a flag's description may wrap over several lines).
export function parseHelp(text) {
  const flags = new Map();
  const blocks = text.split(/\n(?=\s+--[A-Za-z0-9_]+ )/);
  for (const block of blocks) {
    const match = block.match(/^\s*--([A-Za-z0-9_]+) \(([\s\S]*?)\);\s*default: ([^;\n]*);/);
    if (match) flags.set(match[1], match[3].trim().replace(/^"(.*)"$/, "$1"));
  }
  return flags;
}

// Kubernetes quantities (cpu "500m", memory "3Gi") as numbers.
const suffixes = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };
export function quantity(value) {
  const match = String(value).match(/^(\d+(?:\.\d+)?)([a-zA-Z]*)$/);
  if (!match || (match[2] && !(match[2] in suffixes))) throw new Error(`bad quantity ${value}`);
  return Number(match[1]) * (match[2] ? suffixes[match[2]] : 1);
}

export function durationSeconds(value) {
  const units = { h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6, ns: 1e-9 };
  let seconds = 0;
  for (const [, number, unit] of value.matchAll(/(\d+(?:\.\d+)?)(h|ms|us|ns|m|s)/g)) {
    seconds += Number(number) * units[unit];
  }
  return seconds;
}

// The value of env var `name` as the kubelet computes it for `container`.
export function envValue(container, name) {
  const entry = (container.env ?? []).find((env) => env.name === name);
  if (!entry) throw new Error(`$(${name}) is not in the container's env`);
  if (entry.value !== undefined) return entry.value;
  const field = entry.valueFrom?.resourceFieldRef;
  if (!field) throw new Error(`env ${name} is neither a value nor a resourceFieldRef`);
  const [section, resource] = field.resource.split(".");
  const amount = container.resources?.[section]?.[resource];
  if (amount === undefined) throw new Error(`env ${name}: the container sets no ${field.resource}`);
  // The kubelet rounds up to a whole number of divisors.
  return String(Math.ceil(quantity(amount) / quantity(field.divisor ?? "1")));
}

// Args with every $(VAR) replaced as the kubelet does (throws on an unknown
// variable).
export function expandArg(container, arg) {
  return arg.replace(/\$\(([A-Za-z0-9_]+)\)/g, (_, variable) => envValue(container, variable));
}
