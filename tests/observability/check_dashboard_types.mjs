// Type-checks the Grafana dashboard JSON against @grafana/schema with tsc.
//
// A JSON import (resolveJsonModule) widens every string to `string` and skips
// excess-property checks, so instead the JSON is pasted as an object literal
// into a generated .ts file: `export const dashboard: T = <json>;`. Broken
// copies of the dashboard are checked in the same tsc run and must each fail,
// which shows the check rejects the mistakes it is meant to catch.
//
//   node check_dashboard_types.mjs <dashboard.json> <work dir>
//
// The work dir receives a copy of this npm project and `npm ci` runs there
// (skipped when its node_modules already match package-lock.json). Exit
// codes: 0 pass, 1 fail, 77 skip (the npm packages cannot be installed).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SKIP = 77;
const here = path.dirname(fileURLToPath(import.meta.url));
const [dashboardPath, workDir] = process.argv.slice(2);
if (!dashboardPath || !workDir) {
  console.error('usage: check_dashboard_types.mjs <dashboard.json> <work dir>');
  process.exit(2);
}

function installPackages() {
  fs.mkdirSync(workDir, { recursive: true });
  const lock = fs.readFileSync(path.join(here, 'package-lock.json'), 'utf8');
  const installedLock = path.join(workDir, 'node_modules', '.squant-package-lock.json');
  for (const file of ['package.json', 'package-lock.json', 'dashboard_types.ts']) {
    fs.copyFileSync(path.join(here, file), path.join(workDir, file));
  }
  if (fs.existsSync(installedLock) && fs.readFileSync(installedLock, 'utf8') === lock) return;
  const npm = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], {
    cwd: workDir,
    encoding: 'utf8',
    timeout: 240_000,
  });
  if (npm.status !== 0) {
    console.log(`SKIP: npm ci failed, cannot install @grafana/schema and typescript:\n${npm.stderr || npm.error}`);
    process.exit(SKIP);
  }
  fs.writeFileSync(installedLock, lock);
}

// Each broken copy makes one mistake a hand edit of the JSON could make.
const mutations = {
  misspelled_panel_key(d) {
    const panel = d.panels.find((p) => p.type === 'timeseries');
    panel.gridpos = panel.gridPos;
    delete panel.gridPos;
  },
  string_where_number(d) {
    d.panels.find((p) => p.type === 'timeseries').gridPos.h = '8';
  },
  unknown_legend_placement(d) {
    d.panels.find((p) => p.type === 'timeseries').options.legend.placement = 'top';
  },
  unknown_tooltip_mode(d) {
    d.panels.find((p) => p.type === 'timeseries').options.tooltip.mode = 'everything';
  },
  query_without_expr(d) {
    const target = d.panels.find((p) => p.type === 'timeseries').targets[0];
    target.exp = target.expr;
    delete target.expr;
  },
  misspelled_series_style(d) {
    d.panels.find((p) => p.type === 'timeseries').fieldConfig.defaults.custom.fillOpacitty = 10;
  },
  unknown_stat_option(d) {
    d.panels.find((p) => p.type === 'stat').options.sparkline = true;
  },
  missing_schema_version(d) {
    delete d.schemaVersion;
  },
  unknown_variable_type(d) {
    d.templating.list[0].type = 'datasources';
  },
};

function checkFile(name, dashboard) {
  const json = JSON.stringify(dashboard, null, 2);
  fs.writeFileSync(
    path.join(workDir, name),
    "import type { SchemaDashboard, StrictDashboard } from './dashboard_types';\n" +
      `export const schemaView: SchemaDashboard = ${json};\n` +
      `export const strictView: StrictDashboard = ${json};\n`,
  );
  return name;
}

installPackages();
const dashboard = JSON.parse(fs.readFileSync(dashboardPath, 'utf8'));
const goodFile = checkFile('dashboard.check.ts', dashboard);
const brokenFiles = {};
for (const [name, mutate] of Object.entries(mutations)) {
  const copy = structuredClone(dashboard);
  mutate(copy);
  brokenFiles[name] = checkFile(`broken_${name}.check.ts`, copy);
}
fs.writeFileSync(
  path.join(workDir, 'tsconfig.json'),
  JSON.stringify({
    compilerOptions: {
      strict: true,
      noEmit: true,
      target: 'es2022',
      module: 'esnext',
      moduleResolution: 'bundler',
      skipLibCheck: true,
      types: [],
    },
    files: [goodFile, ...Object.values(brokenFiles)],
  }),
);

let output = '';
try {
  execFileSync(process.execPath, [path.join(workDir, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], {
    cwd: workDir,
    encoding: 'utf8',
    timeout: 240_000,
  });
} catch (error) {
  if (error.stdout === undefined) throw error;
  output = error.stdout;
}
const errorsByFile = {};
for (const match of output.matchAll(/^(\S+\.ts)\(\d+,\d+\): error (TS\d+: .*)$/gm)) {
  (errorsByFile[match[1]] ??= []).push(match[0]);
}

let failures = 0;
const goodErrors = errorsByFile[goodFile] ?? [];
if (goodErrors.length > 0) {
  failures++;
  console.log(`FAIL: ${dashboardPath} does not type-check:\n${goodErrors.join('\n')}`);
} else {
  console.log(`ok: ${dashboardPath} type-checks as @grafana/schema Dashboard and as the strict panel view`);
}
for (const [name, file] of Object.entries(brokenFiles)) {
  const errors = errorsByFile[file] ?? [];
  if (errors.length === 0) {
    failures++;
    console.log(`FAIL: broken copy '${name}' type-checks, the check would miss that mistake`);
  } else {
    console.log(`ok: broken copy '${name}' rejected: ${errors[0]}`);
  }
}
const unexpected = Object.keys(errorsByFile).filter(
  (file) => file !== goodFile && !Object.values(brokenFiles).includes(file),
);
if (unexpected.length > 0) {
  failures++;
  console.log(`FAIL: tsc errors outside the checked files:\n${output}`);
}
if (failures === 0 && output.trim() === '' && Object.keys(brokenFiles).length > 0) {
  failures++;
  console.log('FAIL: tsc printed nothing, the broken copies were not checked');
}
console.log(`${1 + Object.keys(brokenFiles).length - failures} passed, ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
