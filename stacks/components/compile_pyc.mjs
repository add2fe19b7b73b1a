// Compile a Lambda asset's Python sources to CPython 3.13 bytecode, with CPython 3.13 itself:
// Pyodide (CPython compiled to WebAssembly, from the npm registry) run by Node, which the CDK needs anyway.
// The host's Python is another version, and bytecode is version-specific (magic number, cache tag).
// usage: node compile_pyc.mjs <pyodide package dir> <asset dir>
// Hash-based, unchecked .pyc: the zip CDK builds does not keep source mtimes a timestamp .pyc checks.
// What `compileall.compile_dir("/asset", invalidation_mode=UNCHECKED_HASH)` over the asset mounted in Pyodide
// wrote, byte for byte (code named /asset/<path>, the same files, modes and folders), without its file system:
// Node reads the sources and writes the .pyc files, Python only compiles (the whole script, side by side on a busy
// machine: 11.0 -> 9.0 CPU-s; with the snapshot below 7.0).
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [pyodideDir, assetDir] = process.argv.slice(2);

// The files compileall compiles: *.py names, in sorted order, not under __pycache__, in no linked folder.
function sources(dir, relative = "") {
  const found = [];
  for (const name of fs.readdirSync(dir).sort()) {
    if (name === "__pycache__") continue;
    const full = path.join(dir, name);
    const link = fs.lstatSync(full).isSymbolicLink();
    const stat = fs.statSync(full, { throwIfNoEntry: false });
    if (stat?.isDirectory()) {
      if (!link) found.push(...sources(full, path.posix.join(relative, name)));
    } else if (stat?.isFile() && name.endsWith(".py")) {
      found.push({ full, relative: path.posix.join(relative, name), mode: stat.mode });
    }
  }
  return found;
}

const { loadPyodide } = await import(pathToFileURL(path.join(pyodideDir, "pyodide.mjs")).href);
// py_compile.compile's steps: compile the source as its loader does, then the hash-based .pyc of it.
const COMPILER = `
import sys
from importlib import util
from importlib._bootstrap_external import _code_to_hash_pyc

def compile_pyc(source, filename):
    source = source.to_bytes()
    code = compile(source, filename, "exec", dont_inherit=True, optimize=-1)
    return _code_to_hash_pyc(code, util.source_hash(source), False)
`;

// Starting CPython (its runtime, then the modules above) is most of the work; Pyodide's memory snapshot of a
// started interpreter, kept beside the package, starts the next one from there (start 4.0 -> 0.9 CPU-s measured).
// Pyodide refuses a snapshot of another build; then, as the first time, it starts afresh and keeps a new one.
const SNAPSHOT = path.join(pyodideDir, "compile_pyc.snapshot");
const options = { stdout: () => {}, stderr: (line) => console.error(line) };

// A snapshot is written whole, then renamed (a concurrent compile reads the old file or the new one); a cut one
// would fail Pyodide's start past recovery, so its memory must still be whole WebAssembly pages.
function snapshot() {
  try {
    const bytes = fs.readFileSync(SNAPSHOT);
    return (bytes.length - bytes.readUInt32LE(4)) % 65536 === 0 ? bytes : undefined;
  } catch {
    return undefined;
  }
}

async function start() {
  const saved = snapshot();
  if (saved) {
    try {
      return await loadPyodide({ ...options, _loadSnapshot: saved });
    } catch {}  // another build's
  }
  const py = await loadPyodide({ ...options, _makeSnapshot: true });
  py.runPython(COMPILER);
  const partial = `${SNAPSHOT}.${process.pid}`;
  try {
    fs.writeFileSync(partial, py.makeMemorySnapshot());
    fs.renameSync(partial, SNAPSHOT);
  } catch {  // a read-only package, a full disk: every compile starts afresh
    fs.rmSync(partial, { force: true });
  }
  return py;
}

const py = await start();
py.runPython("assert sys.version_info[:2] == (3, 13), sys.version");
const compile = py.globals.get("compile_pyc");
const cacheTag = py.runPython("sys.implementation.cache_tag");
let failed = 0;
for (const source of sources(path.resolve(assetDir))) {
  let pyc;
  try {
    const bytes = fs.readFileSync(source.full);  // a Buffer, which Pyodide takes as a plain Uint8Array only
    pyc = compile(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length), `/asset/${source.relative}`);
  } catch (error) {
    failed += 1;
    console.error(`*** Error compiling ${source.relative}: ${error.message.trim().split("\n").pop()}`);
    continue;
  }
  const folder = path.join(path.dirname(source.full), "__pycache__");
  fs.mkdirSync(folder, { recursive: true });
  const name = `${path.basename(source.full, ".py")}.${cacheTag}.pyc`;
  fs.writeFileSync(path.join(folder, name), pyc.toJs(), { mode: (source.mode | 0o200) & 0o666 });
  pyc.destroy();
}
console.log(JSON.stringify({ python: py.runPython("sys.version.split()[0]") }));
process.exit(failed ? 1 : 0);
