#!/usr/bin/env python3
"""The built kvmpilot binary carries Debian's hardening (issue 13, item 10):
PIE, full RELRO (a read-only GOT after start: GNU_RELRO and BIND_NOW), a
non-executable stack, the stack protector (imports __stack_chk_fail),
_FORTIFY_SOURCE (imports checked __*_chk variants), and every compile unit
of the program built with -fstack-protector-strong, -fstack-clash-protection,
-fcf-protection and -fPIE (gcc records its switches in DW_AT_producer).
Read with readelf, as hardening-check (devscripts) does."""
import os
import re
import shutil
import subprocess
import sys

SRC = os.environ.get("KVMPILOT_SRC", os.path.abspath(os.path.join(os.path.dirname(__file__), "../..")))
BUILD = os.environ.get("KVMPILOT_BUILD", os.path.join(SRC, "build"))
BIN = os.environ.get("KVMPILOT", os.path.join(BUILD, "kvmpilot"))

CU_FLAGS = ("-fstack-protector-strong", "-fstack-clash-protection", "-fcf-protection", "-fPIE")

failures = []


def check(ok, what):
    print("%s  %s" % ("ok  " if ok else "FAIL", what), flush=True)
    if not ok:
        failures.append(what)


def readelf(*args):
    r = subprocess.run(["readelf", "-W"] + list(args) + [BIN], capture_output=True, text=True)
    if r.returncode != 0:
        print("readelf %s failed: %s" % (" ".join(args), r.stderr.strip()))
        sys.exit(1)
    return r.stdout


def compile_units(info):
    """(name, producer) of every compile unit in readelf's --debug-dump=info."""
    units, name, producer, in_cu = [], None, None, False
    for line in info.splitlines():
        if "Abbrev Number" in line:
            if in_cu:
                units.append((name, producer))
            in_cu = "DW_TAG_compile_unit" in line
            name = producer = None
            continue
        if not in_cu:
            continue
        m = re.search(r"DW_AT_(name|producer)\s*:\s*(.*)$", line)
        if not m:
            continue
        # "(strp) (offset: 0x65): VALUE" or "(indirect string, offset: 0x65): VALUE"
        value = re.sub(r"^(\([^)]*\)\s*)+:?\s*", "", m.group(2)).strip()
        if m.group(1) == "name":
            name = value
        else:
            producer = value
    if in_cu:
        units.append((name, producer))
    return units


def main():
    if not os.access(BIN, os.X_OK):
        print("FAIL: no binary %s (make)" % BIN)
        sys.exit(1)
    if not shutil.which("readelf"):
        print("FAIL: readelf not found (binutils)")
        sys.exit(1)

    header = readelf("-h")
    check(re.search(r"Type:\s+DYN", header) is not None, "position independent executable (ELF type DYN)")
    phdrs = readelf("-l")
    check("INTERP" in phdrs, "dynamically linked (has an interpreter)")
    check("GNU_RELRO" in phdrs, "RELRO segment (-z relro)")
    stack = re.search(r"GNU_STACK\s+.*\s(R?W?E?)\s+0x", phdrs)
    check(stack is not None and "E" not in stack.group(1), "non-executable stack")
    dyn = readelf("-d")
    check(re.search(r"\(FLAGS\)\s+.*BIND_NOW", dyn) is not None
          or re.search(r"\(FLAGS_1\)\s+Flags:.*\bNOW\b", dyn) is not None,
          "immediate binding: full RELRO (-z now)")
    check(re.search(r"\(FLAGS_1\)\s+Flags:.*\bPIE\b", dyn) is not None, "PIE flag in the dynamic section")

    syms = readelf("--dyn-syms")
    check(re.search(r"\b__stack_chk_fail\b", syms) is not None, "stack protector (__stack_chk_fail imported)")
    chk = sorted(set(re.findall(r"\b(__\w+_chk)\b", syms)) - {"__stack_chk_fail", "__stack_chk_guard"})
    check(len(chk) > 0, "_FORTIFY_SOURCE (checked functions imported: %s)" % (", ".join(chk) or "none"))

    units = [u for u in compile_units(readelf("--debug-dump=info")) if u[1] and u[1].startswith("GNU C")]
    check(len(units) > 0, "compile units with their flags (DWARF DW_AT_producer; build with -g)")
    for flag in CU_FLAGS:
        missing = sorted(n or "?" for n, p in units if not re.search(re.escape(flag) + r"(=|\s|$)", p))
        check(not missing, "%s in every compile unit%s" % (flag, (": missing in " + ", ".join(missing)) if missing else ""))

    if failures:
        print("%d hardening checks failed for %s" % (len(failures), BIN))
        sys.exit(1)
    print("%s: hardened (%d compile units)" % (BIN, len(units)))


main()
