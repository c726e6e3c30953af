"""Copy small results of eval report folders into docs/results/<name>/ and print a table.

Usage: python docs/results/collect.py NAME REPORT_DIR [REPORT_DIR ...]
Copies results.json (per-user lists dropped to keep it small) and the PNGs of each report folder
(never the cache), renders report.md from the copied results.json with the report writer
(:func:`eval.report.render_report`; a report.md that differs from it, e.g. edited by hand, is
reported and replaced) and writes NAME/table.md with NDCG@10 / Recall@10 / MRR and the retriever
recall@20 per pipeline. A results.json without ``command`` or ``agent_config`` is refused
(tests/eval/test_committed_results.py checks every committed one).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from eval.report import render_report


def main(name: str, folders: list[str]) -> None:
    out = Path(__file__).parent / name
    out.mkdir(parents=True, exist_ok=True)
    rows = ["| run | pipeline | users | NDCG@10 [95% CI] | Recall@10 | MRR | retriever recall@20 |", "|---|---|---|---|---|---|---|"]
    for folder in map(Path, folders):
        doc = json.loads((folder / "results.json").read_text(encoding="utf-8"))
        missing = [key for key in ("command", "agent_config") if key not in doc]
        if missing:
            raise SystemExit(f"{folder}/results.json has no {', '.join(missing)}: rerun it with this version")
        doc.pop("per_user", None)
        sub = out / folder.name
        sub.mkdir(exist_ok=True)
        (sub / "results.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
        report = render_report(doc)
        source = folder / "report.md"
        if source.is_file() and source.read_text(encoding="utf-8") != report:
            print(f"warning: {source} differs from what the writer renders from its results.json; "
                  "the rendered one is written", file=sys.stderr)
        (sub / "report.md").write_text(report, encoding="utf-8")
        for f in [p.name for p in folder.glob("*.png")]:
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
