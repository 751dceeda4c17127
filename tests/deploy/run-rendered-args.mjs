// Starts the real squant-server with each rendered Deployment's args, as the
// kubelet would pass them ($(VAR) expanded), so that the server's own
// validation judges every value (sizes, durations, TLS files, buffers). Only
// the addresses change: loopback, port 0 or a free port. A Secret mounted for
// TLS is stood in for by a fresh self-signed certificate (openssl) at the
// same file names. The server must log its "listening" line with the
// expected workers, health port and TLS mode, then exit 0 on SIGTERM.
//
//   node run-rendered-args.mjs SERVER MANIFESTS...
//   node run-rendered-args.mjs --expect-errors SERVER BROKEN...
// With --expect-errors, every container of each file must fail, with the
// texts of the file's `# expect: <text>` lines in its errors.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { expandArg, loadObjects } from "./kube-args.mjs";

const startTimeoutMs = 20000;
const stopTimeoutMs = 10000;

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

// Replaces each Secret mount's path prefix in the args with a temporary
// folder holding a self-signed certificate under the usual key names.
function standInForSecrets(args, pod, container, folder) {
  return args.map((arg) => {
    for (const mount of container.volumeMounts ?? []) {
      const volume = pod.volumes?.find((v) => v.name === mount.name);
      const prefix = `${mount.mountPath.replace(/\/$/, "")}/`;
      const at = arg.indexOf(`=${prefix}`);
      if (!volume?.secret || at < 0) continue;
      return `${arg.slice(0, at + 1)}${folder}/${arg.slice(at + 1 + prefix.length)}`;
    }
    return arg;
  });
}

function makeCertificate(folder) {
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
    "-keyout", join(folder, "tls.key"), "-out", join(folder, "tls.crt"),
  ], { stdio: "ignore" });
  execFileSync("cp", [join(folder, "tls.crt"), join(folder, "ca.crt")]);
}

// Runs the server until its "listening" line, then SIGTERM; resolves to the
// parsed line and the exit code.
function runServer(server, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(server, args, { stdio: ["ignore", "pipe", "pipe"] });
    const output = [];
    let listening = null;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`no "listening" line within ${startTimeoutMs} ms:\n${output.join("\n")}`));
    }, startTimeoutMs);
    const onLine = (line) => {
      output.push(line);
      let event;
      try { event = JSON.parse(line); } catch { return; }
      if (event.event !== "listening" || listening) return;
      listening = event;
      clearTimeout(timer);
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), stopTimeoutMs).unref();
    };
    createInterface({ input: child.stdout }).on("line", onLine);
    createInterface({ input: child.stderr }).on("line", onLine);
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (!listening) reject(new Error(`exited (${code ?? signal}) before listening:\n${output.join("\n")}`));
      else resolve({ listening, code, signal, output });
    });
  });
}

// Runs every container of every Deployment in `file`; returns the count
// that ran as expected and the error message of each that did not.
async function runFile(server, file) {
  const results = { passed: 0, errors: [] };
  for (const deployment of loadObjects(file).filter((o) => o.kind === "Deployment")) {
    const pod = deployment.spec.template.spec;
    for (const container of pod.containers) {
      const label = `${file}: Deployment/${deployment.metadata.name} ${container.name}`;
      const folder = mkdtempSync(join(tmpdir(), "squant-args-"));
      try {
        const rendered = (container.args ?? []).map((arg) => expandArg(container, arg));
        const args = standInForSecrets(rendered, pod, container, folder);
        const value = (flag) => args.findLast((a) => a.startsWith(`--${flag}=`))?.split("=")[1];
        if (value("tls_cert")) makeCertificate(folder);
        const healthPort = Number(value("health_port") ?? 0) > 0 ? await freePort() : 0;
        // absl flags: the last occurrence wins.
        const overrides = ["--bind_address=127.0.0.1", "--metrics_bind_address=127.0.0.1",
          "--port=0", "--metrics_port=0", `--health_port=${healthPort}`];
        const { listening, code, signal, output } = await runServer(server, [...args, ...overrides]);
        const problems = [];
        const wantTls = !value("tls_cert") ? "plaintext" : value("tls_client_ca") ? "mtls" : "tls";
        if (listening.tls !== wantTls) problems.push(`tls is "${listening.tls}", want "${wantTls}"`);
        if (value("workers") && listening.workers !== Number(value("workers"))) {
          problems.push(`workers ${listening.workers}, want ${value("workers")}`);
        }
        if (listening.health_port !== healthPort) problems.push(`health_port ${listening.health_port}, want ${healthPort}`);
        if (code !== 0) problems.push(`exit ${code ?? signal} after SIGTERM:\n${output.join("\n")}`);
        if (problems.length > 0) throw new Error(problems.join("; "));
        results.passed++;
        console.log(`ok   ${label}: the server accepts the rendered args (${rendered.length}), ` +
          `listens (tls ${listening.tls}, ${listening.workers} workers, health port ${listening.health_port}) and exits 0 on SIGTERM`);
      } catch (error) {
        results.errors.push(`${label}: ${error.message}`);
      } finally {
        rmSync(folder, { recursive: true, force: true });
      }
    }
  }
  return results;
}

async function main(args) {
  const expectErrors = args[0] === "--expect-errors";
  const [server, ...files] = expectErrors ? args.slice(1) : args;
  if (!server || files.length === 0) {
    console.error("usage: node run-rendered-args.mjs [--expect-errors] SERVER MANIFESTS...");
    return 2;
  }
  let passed = 0;
  let failed = 0;
  for (const file of files) {
    const results = await runFile(server, file);
    if (!expectErrors) {
      passed += results.passed;
      failed += results.errors.length;
      for (const error of results.errors) console.error(`FAIL ${error}`);
      continue;
    }
    const expected = [...readFileSync(file, "utf8").matchAll(/^# expect: (.+)$/gm)].map((m) => m[1].trim());
    const missing = expected.filter((text) => !results.errors.some((error) => error.includes(text)));
    if (expected.length > 0 && results.passed === 0 && missing.length === 0) {
      passed++;
      console.log(`ok   ${file}: the server refused it as expected`);
    } else {
      failed++;
      console.error(`FAIL ${file}: ${results.passed} container(s) started; missing: ${missing.join(" | ") || "-"}; ` +
        `errors: ${results.errors.join(" | ") || "-"}`);
    }
  }
  console.log(`run-rendered-args: ${passed} passed, ${failed} failed`);
  return failed === 0 && passed > 0 ? 0 : 1;
}

process.exitCode = await main(process.argv.slice(2));
