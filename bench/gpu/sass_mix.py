#!/usr/bin/env python3
"""Executed warp instructions (and stall samples) of one kernel by SASS opcode, from
`ncu --set full --page source --print-source sass --csv` output. Usage: sass_mix.py FILE"""
import csv, collections, re, sys

rows = list(csv.reader(open(sys.argv[1], errors="replace")))
hi = next(i for i, r in enumerate(rows) if "Source" in r and any("Instructions Executed" in c for c in r))
h = rows[hi]
src = h.index("Source")
executed = [i for i, c in enumerate(h) if "Instructions Executed" in c]
ex = next((i for i in executed if h[i].startswith("Warp")), executed[0])  # warp-level where given
st = next((i for i, c in enumerate(h) if "Stall Sampling (All" in c), None)
print("columns:", h[ex], "|", h[st] if st is not None else "-")
count, stall = collections.Counter(), collections.Counter()
for r in rows[hi + 1:]:
    if len(r) <= max(src, ex):
        continue
    s = re.sub(r"^@!?U?P\w+\s+", "", r[src].strip())
    op = s.split(" ")[0].split(".")[0] if s else "?"
    try:
        count[op] += float(r[ex].replace(",", "") or 0)
        if st is not None:
            stall[op] += float(r[st].replace(",", "") or 0)
    except ValueError:
        pass
total, stotal = sum(count.values()), sum(stall.values()) or 1
print(f"total warp instructions {total:.0f}")
for op, c in count.most_common(30):
    print(f"{op:12s} {c:12.0f} {100 * c / total:6.1f} %   stall samples {100 * stall[op] / stotal:5.1f} %")
