// Compile a Lambda asset's Python sources to CPython 3.13 bytecode, with CPython 3.13 itself:
// Pyodide (CPython compiled to WebAssembly, from the npm registry) run by Node, which the CDK needs anyway.
// The host's Python is another version, and bytecode is version-specific (magic number, cache tag).
// usage: node compile_pyc.mjs <pyodide package dir> <asset dir>
// Hash-based, unchecked .pyc: the zip CDK builds does not keep source mtimes a timestamp .pyc checks.
import path from "node:path";
import { pathToFileURL } from "node:url";

const [pyodideDir, assetDir] = process.argv.slice(2);
const { loadPyodide } = await import(pathToFileURL(path.join(pyodideDir, "pyodide.mjs")).href);
const py = await loadPyodide({ stdout: () => {}, stderr: (line) => console.error(line) });
py.FS.mkdir("/asset");
py.FS.mount(py.FS.filesystems.NODEFS, { root: path.resolve(assetDir) }, "/asset");
const ok = py.runPython(`
import compileall, py_compile, sys
assert sys.version_info[:2] == (3, 13), sys.version
compileall.compile_dir("/asset", quiet=1, workers=1,
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
`);
console.log(JSON.stringify({ python: py.runPython("import sys; sys.version.split()[0]") }));
process.exit(ok === false ? 1 : 0);
