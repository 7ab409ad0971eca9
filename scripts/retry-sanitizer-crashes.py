#!/usr/bin/env python3
"""LeakSanitizer's tracer itself sometimes crashes on these virtual machines
("Tracer caught signal 11 ... LeakSanitizer has encountered a fatal error"):
then the sanitizer failed and found nothing. This runs each test of BUILD
that failed only that way once more and puts the new result in BUILD's
meson-logs/testlog.json in place of the old one; every other result,
failures included, stands as it was.

    retry-sanitizer-crashes.py BUILD
"""
import json
import os
import shutil
import subprocess
import sys

CRASH = "LeakSanitizer has encountered a fatal error"

build = sys.argv[1]
log = os.path.join(build, "meson-logs", "testlog.json")
entries = []
with open(log, encoding="utf-8", errors="replace") as f:
    for line in f:
        if line.strip():
            entries.append(json.loads(line))
crashed = [e for e in entries
           if e["result"] not in ("OK", "SKIP", "EXPECTEDFAIL")
           and CRASH in (e.get("stdout") or "") + (e.get("stderr") or "")]
if not crashed:
    sys.exit(0)
names = [e["name"].split(" / ")[-1] for e in crashed]
print(f"retry-sanitizer-crashes: LeakSanitizer's tracer crashed in {', '.join(names)}; running "
      "them once more", flush=True)
first = log + ".first"
shutil.copyfile(log, first)
subprocess.run(["meson", "test", "-C", build, "--no-rebuild", "--print-errorlogs", *names])
again = {}
with open(log, encoding="utf-8", errors="replace") as f:
    for line in f:
        if line.strip():
            e = json.loads(line)
            again[e["name"]] = e
with open(log, "w", encoding="utf-8") as f:
    for e in entries:
        f.write(json.dumps(again.get(e["name"], e)) + "\n")
