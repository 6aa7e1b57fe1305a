'use strict';
// The release's entry (lib/cli/launch.js, run by bin/reroute): loads the bundled CLI
// (lib/cli/reroute.js, 2 MB) through vm.Script with V8's code cache, so a run does not
// parse and compile the whole bundle again. Node 20 has no module.enableCompileCache
// (Node 22), hence the cache by hand. See docs/packaging.md.
//
// The cache (lib/cli/reroute.js.v8cache) is made by scripts/package-linux-x64.sh after a
// warm-up run and shipped in the tarball. V8 checks it against the source, its own version
// and flags (cachedDataRejected): a rejected or missing cache is rebuilt at exit, but only
// when lib/cli is owned by the user running the CLI and writable (never in a folder
// another user could have planted bytecode in). ZBS_REROUTE_CODE_CACHE=0 turns it off.
const fs = require('fs');
const path = require('path');
const vm = require('vm');
const Module = require('module');

const file = path.join(__dirname, 'reroute.js');
const cacheFile = `${file}.v8cache`;
const enabled = process.env.ZBS_REROUTE_CODE_CACHE !== '0';

function ownWritableDir(dir) {
  try {
    const st = fs.statSync(dir);
    if (typeof process.getuid === 'function' && st.uid !== process.getuid()) return false;
    fs.accessSync(dir, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function readCache() {
  if (!enabled) return undefined;
  try {
    const st = fs.statSync(cacheFile);
    // A cache someone else wrote is not trusted.
    if (typeof process.getuid === 'function' && st.uid !== process.getuid() && st.uid !== fs.statSync(file).uid) return undefined;
    return fs.readFileSync(cacheFile);
  } catch {
    return undefined;
  }
}

const source = fs.readFileSync(file, 'utf8');
const cachedData = readCache();
const script = new vm.Script(Module.wrap(source), { filename: file, cachedData });

if (enabled && (cachedData === undefined || script.cachedDataRejected) && ownWritableDir(__dirname)) {
  // At exit the functions this run compiled are in the cache too, not only the top level.
  process.once('exit', () => {
    try {
      const tmp = `${cacheFile}.tmp-${process.pid}`;
      fs.writeFileSync(tmp, script.createCachedData(), { mode: 0o644 });
      fs.renameSync(tmp, cacheFile);
    } catch {
      // Only a cache: the next run compiles again.
    }
  });
}

const mod = new Module(file, null);
mod.filename = file;
mod.paths = Module._nodeModulePaths(__dirname);
const req = Module.createRequire(file);
// The bundle starts the CLI under `require.main === module`.
req.main = mod;
process.mainModule = mod;
script.runInThisContext()(mod.exports, req, mod, file, __dirname);
