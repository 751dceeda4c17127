// Checks rendered manifests against the real squant-server: every flag in a
// Deployment's args is one the binary accepts, with a value of the flag's
// kind; the probe, container and Service ports are the ones the server
// listens on; --workers equals the CPU request; the grace period covers the
// preStop sleep plus --shutdown_grace; TLS files come from a read-only
// Secret; the pod meets the "restricted" Pod Security Standard with a
// read-only root filesystem; the Services, ServiceMonitor, NetworkPolicy, HPA
// and PDB point at what exists.
//
//   node check-against-server.mjs HELP_FILE MANIFESTS...
//   node check-against-server.mjs --expect-errors HELP_FILE BROKEN...
// HELP_FILE is the output of `squant-server --helpfull`. With
// --expect-errors, each file's `# expect: <text>` lines are errors the check
// must report (and it must report no other).
import { readFileSync } from "node:fs";
import { durationSeconds, expandArg, loadObjects, parseHelp, quantity } from "./kube-args.mjs";

const durationPattern = /^-?(\d+(\.\d+)?(h|m|s|ms|us|ns))+$|^0$|^inf$/;

// What a flag's value must look like, from its default's.
function kindOf(defaultValue) {
  if (/^-?\d+$/.test(defaultValue)) return "integer";
  if (/^(true|false)$/.test(defaultValue)) return "bool";
  if (durationPattern.test(defaultValue) && defaultValue !== "0") return "duration";
  return "string";
}

function valueMatchesKind(value, kind) {
  switch (kind) {
    case "integer": return /^-?\d+$/.test(value);
    case "bool": return /^(true|false|1|0)$/.test(value);
    case "duration": return durationPattern.test(value);
    default: return true;
  }
}

function selects(selector, labels) {
  return Object.entries(selector ?? {}).every(([key, value]) => labels?.[key] === value);
}

// The "restricted" Pod Security Standard, plus a read-only root filesystem
// with a writable /tmp.
function checkSecurity(pod, container, fail) {
  const effective = (field) => container.securityContext?.[field] ?? pod.securityContext?.[field];
  if (effective("runAsNonRoot") !== true) fail("runAsNonRoot is not true");
  if (container.securityContext?.allowPrivilegeEscalation !== false) fail("allowPrivilegeEscalation is not false");
  if (!(container.securityContext?.capabilities?.drop ?? []).includes("ALL")) fail("capabilities do not drop ALL");
  if ((container.securityContext?.capabilities?.add ?? []).length > 0) fail("capabilities are added");
  if (effective("seccompProfile")?.type !== "RuntimeDefault") fail("seccompProfile is not RuntimeDefault");
  if (container.securityContext?.readOnlyRootFilesystem !== true) fail("the root filesystem is writable");
  const tmp = (container.volumeMounts ?? []).find((m) => m.mountPath === "/tmp");
  if (!tmp || !pod.volumes?.find((v) => v.name === tmp.name)?.emptyDir) fail("/tmp is not an emptyDir");
}

function checkDeployment(deployment, flags, objects, errors) {
  const pod = deployment.spec.template.spec;
  const podLabels = deployment.spec.template.metadata.labels;
  for (const container of pod.containers) {
    const where = `Deployment/${deployment.metadata.name} container ${container.name}`;
    const fail = (message) => errors.push(`${where}: ${message}`);
    checkSecurity(pod, container, fail);
    const config = new Map(flags);
    for (const arg of container.args ?? []) {
      const match = arg.match(/^--([A-Za-z0-9_]+)=(.*)$/);
      if (!match) { fail(`argument ${arg} is not --flag=value`); continue; }
      const [, name, raw] = match;
      if (!flags.has(name)) { fail(`squant-server has no flag --${name}`); continue; }
      let value;
      try {
        value = expandArg(container, raw);
      } catch (error) { fail(`--${name}: ${error.message}`); continue; }
      const kind = kindOf(flags.get(name));
      if (!valueMatchesKind(value, kind)) fail(`--${name}=${value} is not of kind ${kind} (default ${flags.get(name)})`);
      config.set(name, value);
    }

    const ports = new Map((container.ports ?? []).map((port) => [port.name, port.containerPort]));
    const portNumber = (port) => (typeof port === "number" ? port : ports.get(port));
    const grpcPort = Number(config.get("port"));
    const metricsPort = Number(config.get("metrics_port"));
    const healthPort = Number(config.get("health_port"));
    if (ports.get("grpc") !== grpcPort) fail(`container port grpc is ${ports.get("grpc")}, the server listens on ${grpcPort}`);
    if (ports.get("metrics") !== metricsPort) fail(`container port metrics is ${ports.get("metrics")}, /metrics is on ${metricsPort}`);
    if (healthPort > 0 && ports.get("health") !== healthPort) fail(`container port health is ${ports.get("health")}, --health_port is ${healthPort}`);
    // The kubelet's gRPC probes speak plaintext: with TLS on they must use
    // the health-only port.
    const probePort = healthPort > 0 ? healthPort : grpcPort;
    for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
      if (!container[probe]) { fail(`no ${probe}`); continue; }
      if (!container[probe].grpc) { fail(`${probe} is not a native gRPC probe`); continue; }
      const port = portNumber(container[probe].grpc.port);
      if (port !== probePort) fail(`${probe} probes port ${port}, the plaintext grpc.health.v1 port is ${probePort}`);
    }
    if (config.get("tls_cert") && healthPort <= 0) fail("TLS is on but --health_port is not set: kubelet gRPC probes cannot speak TLS");

    const cpuRequest = container.resources?.requests?.cpu;
    if (cpuRequest === undefined) fail("no CPU request (the HPA needs one)");
    else if (Number(config.get("workers")) !== Math.ceil(quantity(cpuRequest))) {
      fail(`--workers=${config.get("workers")} does not match the CPU request ${cpuRequest}`);
    }
    const memoryLimit = container.resources?.limits?.memory;
    if (memoryLimit === undefined) fail("no memory limit");
    else if (Number(config.get("global_buffer_bytes")) >= quantity(memoryLimit)) {
      fail(`--global_buffer_bytes=${config.get("global_buffer_bytes")} does not fit the memory limit ${memoryLimit}`);
    }

    const command = container.lifecycle?.preStop?.exec?.command ?? [];
    const preStopSeconds = command.length === 2 && /sleep$/.test(command[0]) ? Number(command[1]) : 0;
    const needed = preStopSeconds + durationSeconds(config.get("shutdown_grace"));
    const grace = pod.terminationGracePeriodSeconds ?? 30;
    if (grace < needed) fail(`terminationGracePeriodSeconds ${grace} < preStop ${preStopSeconds} s + --shutdown_grace ${config.get("shutdown_grace")}`);

    for (const flag of ["tls_cert", "tls_key", "tls_client_ca"]) {
      const path = config.get(flag);
      if (!path) continue;
      const mount = (container.volumeMounts ?? []).find((m) => path.startsWith(`${m.mountPath.replace(/\/$/, "")}/`));
      const volume = mount && pod.volumes?.find((v) => v.name === mount.name);
      if (!mount?.readOnly || !volume?.secret) fail(`--${flag}=${path} is not in a read-only Secret volume`);
    }

    for (const policy of objects.filter((o) => o.kind === "NetworkPolicy" && selects(o.spec.podSelector.matchLabels, podLabels))) {
      for (const rule of policy.spec.ingress ?? []) {
        for (const { port } of rule.ports ?? []) {
          if (portNumber(port) === undefined) fail(`NetworkPolicy/${policy.metadata.name} allows port ${port}, which the container does not have`);
        }
      }
    }
    for (const service of objects.filter((o) => o.kind === "Service" && selects(o.spec.selector, podLabels))) {
      for (const port of service.spec.ports) {
        const target = portNumber(port.targetPort ?? port.port);
        if (target === undefined) errors.push(`Service/${service.metadata.name} port ${port.name}: targetPort ${port.targetPort} is not a container port`);
        if (port.name === "grpc" && port.port !== grpcPort) errors.push(`Service/${service.metadata.name}: port grpc is ${port.port}, clients are told ${grpcPort}`);
      }
    }
  }
}

function checkReferences(objects, errors) {
  const deployments = objects.filter((o) => o.kind === "Deployment");
  const podLabels = deployments.map((d) => d.spec.template.metadata.labels);
  const selectsPods = (selector) => podLabels.some((labels) => selects(selector, labels));
  for (const o of objects) {
    const where = `${o.kind}/${o.metadata.name}`;
    if (o.kind === "Service" && !selectsPods(o.spec.selector)) errors.push(`${where} selects no pod`);
    if (o.kind === "PodDisruptionBudget" && !selectsPods(o.spec.selector.matchLabels)) errors.push(`${where} selects no pod`);
    if (o.kind === "NetworkPolicy" && !selectsPods(o.spec.podSelector.matchLabels)) errors.push(`${where} selects no pod`);
    if (o.kind === "HorizontalPodAutoscaler") {
      const target = o.spec.scaleTargetRef;
      if (!deployments.some((d) => d.kind === target.kind && d.metadata.name === target.name)) errors.push(`${where} scales ${target.kind}/${target.name}, which is not rendered`);
    }
    if (o.kind === "ServiceMonitor") {
      const services = objects.filter((s) => s.kind === "Service" && selects(o.spec.selector.matchLabels, s.metadata.labels));
      if (services.length !== 1) errors.push(`${where} selects ${services.length} Services (want exactly 1, or pods are scraped twice)`);
      for (const endpoint of o.spec.endpoints) {
        if (!services.every((s) => s.spec.ports.some((p) => p.name === endpoint.port))) errors.push(`${where}: port ${endpoint.port} is not on the selected Service`);
      }
    }
  }
  if (deployments.length === 0) errors.push("no Deployment rendered");
}

function main(args) {
  const expectErrors = args[0] === "--expect-errors";
  const [helpFile, ...files] = expectErrors ? args.slice(1) : args;
  if (!helpFile || files.length === 0) {
    console.error("usage: node check-against-server.mjs [--expect-errors] HELP_FILE MANIFESTS...");
    return 2;
  }
  const flags = parseHelp(readFileSync(helpFile, "utf8"));
  for (const required of ["port", "metrics_port", "health_port", "workers", "shutdown_grace", "global_buffer_bytes"]) {
    if (!flags.has(required)) {
      console.error(`FAIL ${helpFile}: no --${required} in the server's help (${flags.size} flags parsed)`);
      return 1;
    }
  }
  let failed = 0;
  for (const file of files) {
    const objects = loadObjects(file);
    const errors = [];
    for (const deployment of objects.filter((o) => o.kind === "Deployment")) checkDeployment(deployment, flags, objects, errors);
    checkReferences(objects, errors);
    if (expectErrors) {
      const expected = [...readFileSync(file, "utf8").matchAll(/^# expect: (.+)$/gm)].map((m) => m[1].trim());
      const missing = expected.filter((text) => !errors.some((error) => error.includes(text)));
      const unexpected = errors.filter((error) => !expected.some((text) => error.includes(text)));
      if (expected.length > 0 && missing.length === 0 && unexpected.length === 0) {
        console.log(`ok   ${file}: all ${expected.length} expected errors reported`);
        continue;
      }
      failed++;
      console.error(`FAIL ${file}`);
      if (expected.length === 0) console.error("  no '# expect: <text>' lines");
      for (const text of missing) console.error(`  not reported: ${text}`);
      for (const error of unexpected) console.error(`  unexpected: ${error}`);
      continue;
    }
    if (errors.length === 0) {
      console.log(`ok   ${file}: args, ports, workers, grace period, security context and references agree with squant-server (${flags.size} flags)`);
    } else {
      failed++;
      console.error(`FAIL ${file}`);
      for (const error of errors) console.error(`  ${error}`);
    }
  }
  console.log(`check-against-server: ${files.length - failed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));
