"""Copy small results of eval report folders into docs/results/<name>/ and print a table.

Usage: python docs/results/collect.py NAME REPORT_DIR [REPORT_DIR ...]
Copies results.json (per-user lists dropped to keep it small), report.md and the PNGs of each
report folder (never the cache) and writes NAME/table.md with NDCG@10 / Recall@10 / MRR and the
retriever recall@20 per pipeline.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path


def main(name: str, folders: list[str]) -> None:
    out = Path(__file__).parent / name
    out.mkdir(parents=True, exist_ok=True)
    rows = ["| run | pipeline | users | NDCG@10 [95% CI] | Recall@10 | MRR | retriever recall@20 |", "|---|---|---|---|---|---|---|"]
    for folder in map(Path, folders):
        doc = json.loads((folder / "results.json").read_text())
        doc.pop("per_user", None)
        sub = out / folder.name
        sub.mkdir(exist_ok=True)
        (sub / "results.json").write_text(json.dumps(doc, indent=1))
        for f in ["report.md", *[p.name for p in folder.glob("*.png")]]:
            if (folder / f).is_file():
                shutil.copy(folder / f, sub / f)
        for pipe, p in doc["pipelines"].items():
            m = p["metrics"]
            rr = p.get("retriever_recall@20")
            rows.append(f"| {folder.name} | {pipe} | {p['n']} | {m['ndcg@10']['mean']:.4f} [{m['ndcg@10']['low']:.3f}, "
                        f"{m['ndcg@10']['high']:.3f}] | {m['recall@10']['mean']:.4f} | {m['mrr']['mean']:.4f} | "
                        f"{'' if rr is None else f'{rr:.3f}'} |")
    (out / "table.md").write_text("\n".join(rows) + "\n")
    print("\n".join(rows))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
