"""Build tests/eval/real/{tune,test}.jsonl from the raw files (run once per labelling round).

Inputs (raw/): what the finders found (found-*.jsonl: the author's words, URL, kind, the
finder's tip), the blind batches (batch-*.jsonl: shuffled, ids hidden, no label), two
labellers' labels per batch (labels-<batch>1/2.jsonl) and keymap.json (qid -> text).
A query is kept when its two labellers chose the same first tip (or both NOFIT, or both
OFFTOPIC). The split is by source site: every URL of a site lands in the same split, chosen
by a hash of the site's name, so no site is in both.

    python tests/eval/real/assemble.py          # writes tune.jsonl and test.jsonl, prints counts
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import urlparse

HERE = Path(__file__).resolve().parent
RAW = HERE / "raw"
#: Hosts that serve reddit's own posts under another name: one source, one split.
REDDIT_MIRRORS = ("reddit.", "redlib.", "redite.", "rl.")
SECOND_LEVEL = {"co", "com", "org", "net", "ac", "gov", "edu"}
STYLE = {"customer": "customer", "rep": "rep", "lead": "lead"}
NO_TIP = {"NOFIT": "uncovered", "OFFTOPIC": "offtopic"}


def site(url: str) -> str:
    """The source site of a URL: its registrable domain ("bbc.co.uk"), reddit's mirrors as one."""
    host = (urlparse(url).hostname or "").lower()
    if "reddit" in host or host.startswith(REDDIT_MIRRORS):
        return "reddit"
    parts = host.split(".")
    if len(parts) >= 3 and parts[-2] in SECOND_LEVEL and len(parts[-1]) == 2:
        return ".".join(parts[-3:])
    return ".".join(parts[-2:])


def in_test(name: str) -> bool:
    """Half the sites, fixed by the site's name alone (a new round never moves an old site)."""
    return hashlib.sha256(name.encode()).digest()[0] % 2 == 0


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def main() -> int:
    found = {r["text"]: r for f in sorted(RAW.glob("found-*.jsonl")) for r in read_jsonl(f)}
    keymap = json.loads((RAW / "keymap.json").read_text(encoding="utf-8"))
    rows: dict[str, list[dict]] = {"tune": [], "test": []}
    seen = Counter()
    for batch in sorted(RAW.glob("batch-*.jsonl")):
        name = batch.stem.removeprefix("batch-")
        first = {r["qid"]: r for r in read_jsonl(RAW / f"labels-{name}1.jsonl")}
        second = {r["qid"]: r for r in read_jsonl(RAW / f"labels-{name}2.jsonl")}
        for item in read_jsonl(batch):
            qid = item["qid"]
            a, b = first[qid], second[qid]
            source = found[keymap[qid]["text"]]
            seen["labelled"] += 1
            if a["tip"] != b["tip"]:
                seen["disagreed"] += 1
                continue
            tip = a["tip"]
            if tip in NO_TIP:
                style, relevant = NO_TIP[tip], []
            elif source["kind"] in STYLE:
                style, relevant = STYLE[source["kind"]], [tip]
            else:  # found as "no tip fits", labelled with one: its writer's role is unknown
                seen["dropped: role unknown"] += 1
                continue
            also = sorted({t for t in (*a.get("also", []), *b.get("also", [])) if t and t != tip})
            where = site(source["url"])
            split = "test" if in_test(where) else "tune"
            rows[split].append(
                {
                    "id": f"real-{qid}",
                    "style": style,
                    "query": source["text"],
                    "relevant": relevant,
                    "also_relevant": also if relevant else [],
                    "expect_text": [],
                    "url": source["url"],
                    "site": where,
                }
            )
    for split, items in rows.items():
        items.sort(key=lambda r: r["id"])
        with (HERE / f"{split}.jsonl").open("w", encoding="utf-8") as out:
            for row in items:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
        styles = Counter(r["style"] for r in items)
        sites = len({r["site"] for r in items})
        print(f"{split}: {len(items)} queries from {sites} sites; {dict(sorted(styles.items()))}")
    print(dict(seen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
