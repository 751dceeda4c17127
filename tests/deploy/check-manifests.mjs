// Checks Kubernetes manifests two ways:
//  - schema: every object through kubernetes-models' JSON-schema validation
//    (@kubernetes-models/validate): types, required fields, formats. It
//    accepts unknown fields, so also
//  - types: every object as an object literal of the model's TypeScript
//    interface (IDeployment, IServiceMonitor...), compiled with tsc: an
//    excess-property error catches a misspelled field.
//
//   node check-manifests.mjs FILE...
//     every object of every (multi-document YAML) file must pass both checks.
//   node check-manifests.mjs --expect-errors FILE...
//     each file is a deliberately broken manifest whose comment lines
//       # expect: <schema|types> <text the error must contain>
//     say which checks must reject it; a check not named must accept it.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { parseAllDocuments } from "yaml";

const here = dirname(fileURLToPath(import.meta.url));

// Where the models of an apiVersion live; anything else is an error, never
// a silent pass.
const modelPackages = [
  { group: /^monitoring\.coreos\.com\//, pkg: "@kubernetes-models/prometheus-operator" },
  { group: /^[a-z0-9.]*\/?v[0-9a-z]+$/, pkg: "kubernetes-models" },
];

function modelModule(apiVersion) {
  const entry = modelPackages.find(({ group }) => group.test(apiVersion));
  if (!entry) throw new Error(`no model package for apiVersion ${apiVersion}`);
  return `${entry.pkg}/${apiVersion}`;
}

function loadObjects(file) {
  const objects = [];
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0].message}`);
    const object = doc.toJS();
    if (object == null) continue;
    objects.push({ file, object, label: `${file}: ${object.kind}/${object.metadata?.name}` });
  }
  return objects;
}

async function schemaErrors(object) {
  let models;
  try {
    models = await import(modelModule(object.apiVersion));
  } catch (error) {
    return [`cannot load the model of ${object.apiVersion}: ${error.message}`];
  }
  const Model = models[object.kind];
  if (typeof Model !== "function") return [`no model for ${object.apiVersion} ${object.kind}`];
  try {
    new Model(object).validate();
    return [];
  } catch (error) {
    return [error.message];
  }
}

// Compiles one in-memory module that assigns every object to a constant of
// its interface type; returns the errors of each object, by index.
function typeErrors(objects) {
  const lines = [];
  const ranges = [];
  // Line i imports the interface of object i.
  objects.forEach(({ object }, i) => {
    const module = JSON.stringify(modelModule(object.apiVersion));
    lines.push(`import type { I${object.kind} as T${i} } from ${module};`);
  });
  objects.forEach(({ object }, i) => {
    const first = lines.length;
    lines.push(`export const object${i}: T${i} = ${JSON.stringify(object, null, 2)};`);
    ranges.push([first, lines.join("\n").split("\n").length - 1]);
  });
  const source = lines.join("\n");
  // A file beside node_modules, so that module resolution finds the models.
  const virtualFile = join(here, "__manifests__.mts");
  const options = {
    strict: true,
    noEmit: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, version, ...rest) =>
    name === virtualFile ? ts.createSourceFile(name, source, version) : getSourceFile(name, version, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === virtualFile || fileExists(name);
  const readFile = host.readFile.bind(host);
  host.readFile = (name) => (name === virtualFile ? source : readFile(name));

  const program = ts.createProgram([virtualFile], options, host);
  const errors = objects.map(() => []);
  for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n");
    if (diagnostic.file?.fileName !== virtualFile) {
      errors.forEach((list) => list.push(`(outside the manifests) ${message}`));
      continue;
    }
    const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
    const index = ranges.findIndex(([first, last]) => line >= first && line <= last);
    if (index < 0) {
      errors[line].push(message); // the import of object `line`
    } else {
      errors[index].push(`line ${line - ranges[index][0] + 1} of the object as JSON: ${message}`);
    }
  }
  return errors;
}

async function checkAll(objects) {
  const types = typeErrors(objects);
  const results = [];
  for (const [i, entry] of objects.entries()) {
    results.push({ ...entry, schema: await schemaErrors(entry.object), types: types[i] });
  }
  return results;
}

function expectationsOf(file) {
  const expected = { schema: [], types: [] };
  for (const match of readFileSync(file, "utf8").matchAll(/^# expect: (schema|types) (.+)$/gm)) {
    expected[match[1]].push(match[2].trim());
  }
  if (expected.schema.length + expected.types.length === 0) {
    throw new Error(`${file}: a broken manifest needs '# expect: <schema|types> <text>' lines`);
  }
  return expected;
}

async function main(args) {
  const expectErrors = args[0] === "--expect-errors";
  const files = expectErrors ? args.slice(1) : args;
  if (files.length === 0) {
    console.error("usage: node check-manifests.mjs [--expect-errors] FILE...");
    return 2;
  }
  let failures = 0;
  let checked = 0;
  for (const file of files) {
    const objects = loadObjects(file);
    if (objects.length === 0) {
      console.error(`FAIL ${file}: no objects`);
      failures++;
      continue;
    }
    const results = await checkAll(objects);
    if (!expectErrors) {
      for (const { label, schema, types } of results) {
        checked++;
        if (schema.length + types.length === 0) {
          console.log(`ok   ${label}`);
          continue;
        }
        failures++;
        console.error(`FAIL ${label}`);
        for (const message of schema) console.error(`  schema: ${message}`);
        for (const message of types) console.error(`  types: ${message}`);
      }
      continue;
    }
    checked++;
    const expected = expectationsOf(file);
    const problems = [];
    for (const check of ["schema", "types"]) {
      const messages = results.flatMap((result) => result[check]);
      if (expected[check].length === 0 && messages.length > 0) {
        problems.push(`${check} rejected it unexpectedly: ${messages.join(" | ")}`);
      }
      for (const text of expected[check]) {
        if (!messages.some((message) => message.includes(text))) {
          problems.push(`${check} did not report "${text}" (it said: ${messages.join(" | ") || "nothing"})`);
        }
      }
    }
    if (problems.length === 0) {
      const caughtBy = ["schema", "types"].filter((check) => expected[check].length > 0);
      console.log(`ok   ${file}: rejected by ${caughtBy.join(" and ")} as expected`);
    } else {
      failures++;
      console.error(`FAIL ${file}`);
      for (const problem of problems) console.error(`  ${problem}`);
    }
  }
  console.log(`check-manifests: ${checked - failures} passed, ${failures} failed`);
  return failures === 0 ? 0 : 1;
}

process.exitCode = await main(process.argv.slice(2));
