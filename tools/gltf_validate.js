// Validate glTF/GLB files with the Khronos glTF validator; prints one JSON report per file.
// Usage: node tools/gltf_validate.js FILE... ; exit code 1 if any file has errors.
const fs = require("fs");
const path = require("path");
const validator = require("gltf-validator");

async function check(file) {
  const bytes = new Uint8Array(fs.readFileSync(file));
  const report = await validator.validateBytes(bytes, {
    uri: path.basename(file),
    maxIssues: 50,
    externalResourceFunction: (uri) =>
      new Promise((resolve, reject) => {
        fs.readFile(path.resolve(path.dirname(file), decodeURIComponent(uri)), (err, data) =>
          err ? reject(err.toString()) : resolve(new Uint8Array(data)));
      }),
  });
  const issues = report.issues;
  return {
    file,
    errors: issues.numErrors,
    warnings: issues.numWarnings,
    messages: issues.messages.filter((m) => m.severity <= 1).map((m) => `${m.code} ${m.pointer || ""}: ${m.message}`),
    animations: report.info ? report.info.animationCount : null,
    morphTargets: report.info ? report.info.hasMorphTargets : null,
    skins: report.info ? report.info.hasSkins : null,
  };
}

(async () => {
  let failed = false;
  for (const file of process.argv.slice(2)) {
    const r = await check(file);
    failed = failed || r.errors > 0;
    console.log(JSON.stringify(r));
  }
  process.exit(failed ? 1 : 0);
})().catch((e) => { console.error(String(e)); process.exit(2); });
