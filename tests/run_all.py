#!/usr/bin/env python3
"""Runs every Pensieve test suite and ends with one line `N passed, N failed`.

Suites: the C++ unit tests (GoogleTest, sanitizer build), the libFuzzer targets for a short time
each, and the Python integration tests (pytest: parity with mlx-lm and Hugging Face, the CLI).
Exit status is non-zero when anything failed or when no test ran at all.
"""
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUZZ_SECONDS = int(os.environ.get("PENSIEVE_FUZZ_SECONDS", "20"))


def run_cpp(results):
    out = ROOT / "build-asan" / "gtest.xml"
    out.unlink(missing_ok=True)
    binary = ROOT / "build-asan" / "tests" / "cpp" / "pensieve_tests"
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")  # libmlx is not built for LSan
    proc = subprocess.run([str(binary), f"--gtest_output=xml:{out}"], env=env, cwd=ROOT)
    if not out.exists():
        results.append(("cpp: pensieve_tests (crashed)", False))
        return
    for case in ET.parse(out).getroot().iter("testcase"):
        ok = case.find("failure") is None and case.find("error") is None
        results.append((f"cpp: {case.get('classname')}.{case.get('name')}", ok))
    if proc.returncode != 0 and all(ok for _, ok in results):
        results.append(("cpp: pensieve_tests exit status", False))


def run_fuzzers(results):
    fuzz_dir = ROOT / "build-fuzz" / "tests" / "fuzz"
    corpus_root = ROOT / "tests" / "fuzz" / "corpus"
    for binary in sorted(fuzz_dir.glob("fuzz_*")):
        if not os.access(binary, os.X_OK) or binary.is_dir():
            continue
        seeds = corpus_root / binary.name
        work = ROOT / "build-fuzz" / "corpus" / binary.name
        work.mkdir(parents=True, exist_ok=True)
        args = [str(binary), f"-max_total_time={FUZZ_SECONDS}", "-max_len=4096",
                "-print_final_stats=1", str(work)]
        if seeds.is_dir():
            args.append(str(seeds))
        proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
        ok = proc.returncode == 0
        if not ok:
            sys.stderr.write(proc.stderr[-4000:])
        results.append((f"fuzz: {binary.name} for {FUZZ_SECONDS}s", ok))


def run_pytest(results):
    out = ROOT / "build" / "pytest.xml"
    out.unlink(missing_ok=True)
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-m", "pytest", "-q",
                           "-p", "no:cacheprovider", f"--junitxml={out}", "tests/python"],
                          cwd=ROOT)
    if not out.exists():
        results.append(("pytest (did not run)", False))
        return
    for case in ET.parse(out).getroot().iter("testcase"):
        if case.find("skipped") is not None:
            # A skipped test is not a pass: report it as a failure so it cannot hide.
            results.append((f"py: {case.get('classname')}.{case.get('name')} (skipped)", False))
            continue
        ok = case.find("failure") is None and case.find("error") is None
        results.append((f"py: {case.get('classname')}.{case.get('name')}", ok))
    if proc.returncode not in (0, 1) and all(ok for _, ok in results):
        results.append((f"pytest exit status {proc.returncode}", False))


def main():
    results = []
    run_cpp(results)
    run_fuzzers(results)
    run_pytest(results)
    failed = [name for name, ok in results if not ok]
    for name in failed:
        print(f"FAILED {name}")
    passed = len(results) - len(failed)
    print(f"{passed} passed, {len(failed)} failed")
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
