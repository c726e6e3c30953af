"""``recchat bench index-memory``: real `recchat index` runs per worker count (slow), and the CLI's
refusal of a malformed ``--workers`` list."""

import json

import pytest
from typer.testing import CliRunner

from bench.retrieval import run_index_memory
from ui.cli import app


@pytest.mark.parametrize("workers", ["0", "1,x", ","])
def test_cli_refuses_bad_worker_counts(workers, tmp_path):
    result = CliRunner().invoke(app, ["bench", "index-memory", "--sizes", "200", "--workers", workers,
                                      "--out", str(tmp_path / "o.json")])
    assert result.exit_code == 2 and "--workers" in result.output
    assert not (tmp_path / "o.json").exists()


@pytest.mark.slow
def test_each_worker_count_indexes_the_whole_catalog(tmp_path):
    out = tmp_path / "index_memory.json"
    results = run_index_memory([300], out, words_per_text=5, workers=[1, 2])
    row = results["sizes"]["300"]
    assert set(row["by_workers"]) == {"1", "2"}
    for run in row["by_workers"].values():
        assert run["index_rc"] == 0 and run["embedded"] == 300, run["index_last_line"]
    assert row["by_workers"]["1"]["speedup_vs_first"] == 1.0
    assert row["index_s"] == row["by_workers"]["1"]["index_s"]
    assert json.loads(out.read_text())["config"]["workers"] == [1, 2]
