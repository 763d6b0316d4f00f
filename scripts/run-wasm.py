"""Runs a WASI program (a wasm32 module exporting _start) under Wasmtime, the PyPI `wasmtime`
package that scripts/install-test-deps.sh puts in .venv-wasm: standard input, output and error
are this process's own, and the exit status is the program's.

    .venv-wasm/bin/python scripts/run-wasm.py PROGRAM.wasm < input
"""
import sys

import wasmtime


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: run-wasm.py PROGRAM.wasm", file=sys.stderr)
        return 2
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    wasi = wasmtime.WasiConfig()
    wasi.inherit_stdin()
    wasi.inherit_stdout()
    wasi.inherit_stderr()
    wasi.argv = [sys.argv[1]]
    store.set_wasi(wasi)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    module = wasmtime.Module.from_file(engine, sys.argv[1])
    instance = linker.instantiate(store, module)
    start = instance.exports(store)["_start"]
    try:
        start(store)
    except wasmtime.ExitTrap as exit:
        return exit.code
    print("run-wasm: _start returned without proc_exit", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
