// Runs seed 003's handler the way Lambda would and prints its result as JSON. With NO_SLEEP=1 it
// runs a copy without the ten-second sleep the program needed against eventually consistent AWS.
const fs = require("node:fs");
const path = require("node:path");
const Module = require("node:module");
let file = path.join(__dirname, "index.js");
if (process.env.NO_SLEEP === "1") {
  const src = fs.readFileSync(file, "utf8").replace("await new Promise((resolve) => setTimeout(resolve, 10000));", "");
  const m = new Module(file, module);
  m.filename = file;
  m.paths = Module._nodeModulePaths(__dirname);
  m._compile(src, file);
  run(m.exports);
} else {
  run(require(file));
}
function run(mod) {
  mod.handler({}, {}).then(
    (r) => { const { $metadata, ...rest } = r; console.log(JSON.stringify(rest)); },
    (e) => { console.error(`${e.name}: ${e.message}`); process.exit(1); },
  );
}
