#!/usr/bin/env bash
# The package declares macOS as well as Linux: every use of Glibc (or Musl) must sit in an `#if`
# branch chosen for that C library, inside a conditional that also has a branch for Darwin (or an
# `#else`), so the other platform compiles too. Prints each offending line and fails if any.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 - Sources Tests Benchmarks Fuzz Examples Plugins <<'PY'
import os, re, sys

LINUX = re.compile(r"Glibc|Musl|os\(Linux\)|Android|Bionic")
DARWIN = re.compile(r"Darwin|os\(macOS\)|os\(iOS\)|canImport\(ObjectiveC\)")
USE = re.compile(r"^\s*(@\w+\s+)*import\s+(Glibc|Musl)\b|\b(Glibc|Musl)\.")

def check(path):
    problems = []
    groups = []   # each: {"branches": [condition, ...], "uses": [(line, number, branch index)]}
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            stripped = line.strip()
            if stripped.startswith("#if "):
                groups.append({"branches": [stripped[4:]], "uses": []})
                continue
            if stripped.startswith("#elseif ") and groups:
                groups[-1]["branches"].append(stripped[8:])
                continue
            if stripped.startswith("#else") and groups:
                groups[-1]["branches"].append("else")
                continue
            if stripped.startswith("#endif") and groups:
                group = groups.pop()
                has_other = any(DARWIN.search(b) or b == "else" for b in group["branches"])
                for text, at, branch in group["uses"]:
                    if not LINUX.search(group["branches"][branch]):
                        problems.append((at, text, "not in a branch chosen for Glibc/Musl"))
                    elif not has_other:
                        problems.append((at, text, "no Darwin or #else branch beside it"))
                continue
            code = stripped.split("//", 1)[0]
            if USE.search(code):
                if groups:
                    groups[-1]["uses"].append((stripped, number, len(groups[-1]["branches"]) - 1))
                else:
                    problems.append((number, stripped, "outside any #if"))
    return problems

found = 0
for root in sys.argv[1:]:
    for folder, _, files in os.walk(root):
        if "/.build" in folder:
            continue
        for name in sorted(files):
            if name.endswith(".swift"):
                path = os.path.join(folder, name)
                for at, text, why in check(path):
                    print(f"{path}:{at}: {why}: {text}")
                    found += 1
if found:
    print(f"check-portability: {found} use(s) of Glibc without a Darwin branch", file=sys.stderr)
    sys.exit(1)
print("check-portability: every Glibc use has a Darwin branch")
PY
