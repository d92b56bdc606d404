"""Styles: Fooocus's file format and name normalization, our shipped set (no Fooocus name in it), Fooocus's
own files read from an install or an import, later sources winning, bad files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.catalog import Catalog, normalize_style_name
from orchestrator.catalog.styles import SPECIAL_STYLES, fooocus_style_files, load_styles
from tests.orchestrator.catalog.catalog_samples import REPO_CATALOG, catalog_dir
from tests.orchestrator.catalog.fooocus_style_names import FOOOCUS_STYLE_NAMES

# remgo's counterparts of Fooocus's quality styles, which presets of our own use.
OWN_NAMES = ["Remgo Enhance", "Remgo Sharp", "Remgo Negative", "Remgo Photograph", "Remgo Cinematic",
             "Remgo Masterpiece"]
# A Fooocus install to read the real names from, when one is at hand (its files are only read).
FOOOCUS_INSTALL = os.environ.get("REMGO_TEST_FOOOCUS")


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("sai-3d-model", "SAI 3D Model"),
        ("sai-anime", "SAI Anime"),
        ("mre-dark-cyberpunk", "MRE Dark Cyberpunk"),
        ("futuristic-retro cyberpunk", "Futuristic Retro Cyberpunk"),
        ("Fooocus Sharp", "Fooocus Sharp"),
        ("ads-fashion editorial", "Ads Fashion Editorial"),
        ("misc-(sai) gothic", "Misc (Sai) Gothic"),  # Fooocus capitalizes only the "(s"
        ("artstyle-(steampunk)", "Artstyle (Steampunk)"),
    ],
)
def test_names_are_normalized_as_fooocus_shows_them(raw, shown):
    assert normalize_style_name(raw) == shown


def test_shipped_set_is_complete_and_well_formed():
    styles, problems = load_styles(REPO_CATALOG / "styles")
    assert problems == []
    assert len(styles) >= 40
    for name in OWN_NAMES:
        assert name in styles, name
    for name, style in styles.items():
        assert normalize_style_name(name) == name  # shown exactly as written
        assert name not in SPECIAL_STYLES
        assert style.prompt or style.negative_prompt, name
        assert style.prompt.count("{prompt}") <= 1, name
        assert "{prompt}" not in style.negative_prompt, name
        assert (style.origin, style.source) == ("remgo", "remgo_styles.json")
    # Both kinds exist: templates that wrap the prompt and negative-only styles.
    assert styles["Remgo Sharp"].has_placeholder
    assert not styles["Remgo Enhance"].has_placeholder and styles["Remgo Enhance"].negative_prompt


def test_no_built_in_style_answers_to_a_fooocus_name():
    # A style name promises a template: one of Fooocus's names must give Fooocus's words or nothing, and
    # remgo does not carry Fooocus's words. The names (facts, not text) are kept in the tests.
    styles, _ = load_styles(REPO_CATALOG / "styles")
    assert len(FOOOCUS_STYLE_NAMES) == 277 and "Fooocus Sharp" in FOOOCUS_STYLE_NAMES
    assert sorted(set(styles) & set(FOOOCUS_STYLE_NAMES)) == []
    for name in FOOOCUS_STYLE_NAMES:  # not even in another case or spelling
        assert normalize_style_name(name.lower().replace(" ", "-")) not in styles


@pytest.mark.skipif(not FOOOCUS_INSTALL, reason="REMGO_TEST_FOOOCUS does not name a Fooocus install to read")
def test_no_built_in_style_answers_to_a_name_of_the_fooocus_install_at_hand():
    folder = Path(FOOOCUS_INSTALL) / "sdxl_styles"
    theirs, problems = load_styles(Path("/nonexistent"), [folder])
    assert problems == [] and len(theirs) >= len(FOOOCUS_STYLE_NAMES) // 2, folder
    ours, _ = load_styles(REPO_CATALOG / "styles")
    assert sorted(set(ours) & set(theirs)) == []


@pytest.mark.skipif(not FOOOCUS_INSTALL, reason="REMGO_TEST_FOOOCUS does not name a Fooocus install to read")
def test_a_fooocus_install_reads_as_fooocus_itself_reads_it():
    # Fooocus's own loader (modules/sdxl_styles.py of the install), run as Fooocus runs it: same names, same
    # order, same templates, and the same chunks once a prompt is applied.
    script = ("import json, modules.sdxl_styles as s; print(json.dumps([[k, *v, s.apply_style(k, 'a fox')]"
              " for k, v in s.styles.items()]))")
    out = subprocess.run([sys.executable, "-c", script], cwd=FOOOCUS_INSTALL, capture_output=True, text=True,
                         check=True).stdout
    theirs = json.loads(out)
    ours, _ = load_styles(Path("/nonexistent"), [Path(FOOOCUS_INSTALL) / "sdxl_styles"])
    assert [t[0] for t in theirs] == list(ours)
    for name, prompt, negative, (positive_chunks, negative_chunks, placed) in theirs:
        style = ours[name]
        assert (style.prompt, style.negative_prompt) == (prompt, negative)
        assert [*style.apply("a fox"), style.has_placeholder] == [positive_chunks, negative_chunks, placed]


def _write(path: Path, entries: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entries), encoding="utf-8")
    return path


def test_a_fooocus_folder_is_read_in_fooocus_order(tmp_path):
    folder = tmp_path / "Fooocus" / "sdxl_styles"
    _write(folder / "sdxl_styles_sai.json", [{"name": "sai-anime", "prompt": "their anime {prompt}"}])
    _write(folder / "sdxl_styles_fooocus.json", [{"name": "Fooocus Sharp", "prompt": "their sharp {prompt}"},
                                                 {"name": "Dup", "prompt": "own file {prompt}"}])
    _write(folder / "Zzz_mine.JSON", [{"name": "zed", "prompt": "z {prompt}"}])
    _write(folder / "aaa_extra.json", [{"name": "dup", "prompt": "extra file {prompt}"}])
    _write(folder / "more" / "nested.json", [{"name": "nested", "prompt": "n {prompt}"}])
    (folder / "samples").mkdir()
    (folder / "samples" / "fooocus_sharp.jpg").write_bytes(b"jpeg")
    # Fooocus: sub-folders first, the other files by name (any case), then its own files in its own order.
    assert [p.relative_to(folder).as_posix() for p in fooocus_style_files(folder)] == [
        "more/nested.json", "aaa_extra.json", "Zzz_mine.JSON", "sdxl_styles_fooocus.json", "sdxl_styles_sai.json"]
    styles, problems = load_styles(tmp_path / "no-catalog", [folder])
    assert problems == []
    assert list(styles) == ["Nested", "Dup", "Zed", "Fooocus Sharp", "SAI Anime"]
    assert styles["Dup"].prompt == "own file {prompt}"  # a later file wins, in the earlier one's place
    assert {s.origin for s in styles.values()} == {"fooocus"}
    assert styles["SAI Anime"].source == str(folder / "sdxl_styles_sai.json")


def test_fooocus_styles_win_over_built_in_ones_and_own_files_over_both(tmp_path):
    root = catalog_dir(tmp_path, models={}, fooocus_styles=False)
    install = tmp_path / "Fooocus"
    # A name remgo ships ("Watercolor Painting") that a Fooocus folder also has: the Fooocus file's wins.
    _write(install / "sdxl_styles" / "sdxl_styles_fooocus.json", [
        {"name": "Watercolor Painting", "prompt": "install {prompt}"},
        {"name": "Fooocus Sharp", "prompt": "install sharp {prompt}"}])
    snap = Catalog(root, [install / "models"]).snapshot()  # a Fooocus install's models folder as the root
    assert snap.styles["Watercolor Painting"].prompt == "install {prompt}"
    assert snap.styles["Watercolor Painting"].origin == "fooocus"
    assert snap.style_names[:2] == ["Watercolor Painting", "Fooocus Sharp"]  # Fooocus's first, in its order
    assert snap.style_names[2] in {s["name"] for s in json.loads((root / "styles" / "remgo_styles.json").read_text())}
    # The imported copy is read after the installs' folders, a file of the catalog's own after both.
    _write(root / "styles" / "fooocus" / "sdxl_styles_fooocus.json",
           [{"name": "Watercolor Painting", "prompt": "imported {prompt}"}])
    snap = Catalog(root, [install]).snapshot()
    assert (snap.styles["Watercolor Painting"].prompt, snap.styles["Watercolor Painting"].source) == (
        "imported {prompt}", "fooocus/sdxl_styles_fooocus.json")
    assert snap.styles["Fooocus Sharp"].prompt == "install sharp {prompt}"
    _write(root / "styles" / "mine.json", [{"name": "watercolor-painting", "prompt": "mine {prompt}"}])
    snap = Catalog(root, [install]).snapshot()
    assert (snap.styles["Watercolor Painting"].prompt, snap.styles["Watercolor Painting"].origin) == (
        "mine {prompt}", "user")


def test_a_model_root_without_sdxl_styles_adds_no_styles(tmp_path):
    root = catalog_dir(tmp_path, models={}, fooocus_styles=False)
    comfy = tmp_path / "ComfyUI"
    (comfy / "models" / "checkpoints").mkdir(parents=True)
    catalog = Catalog(root, [comfy])
    assert catalog.fooocus_style_folders() == []
    assert {s.origin for s in catalog.snapshot().styles.values()} == {"remgo"}


def test_a_bad_fooocus_file_is_reported_and_the_others_load(tmp_path):
    root = catalog_dir(tmp_path, models={}, fooocus_styles=False)
    folder = tmp_path / "Fooocus" / "sdxl_styles"
    _write(folder / "sdxl_styles_fooocus.json", [{"name": "Fooocus Sharp", "prompt": "{prompt}, sharp"}])
    (folder / "broken.json").write_text("{not json")
    snap = Catalog(root, [tmp_path / "Fooocus"]).snapshot()
    assert any(p.startswith(f"{folder / 'broken.json'} skipped") for p in snap.problems), snap.problems
    assert snap.styles["Fooocus Sharp"].prompt == "{prompt}, sharp"


def test_user_files_win_over_shipped_and_imported_ones(tmp_path):
    root = catalog_dir(tmp_path, models={})
    (root / "styles" / "aaa_mine.json").write_text(json.dumps([
        {"name": "fooocus-sharp", "prompt": "mine {prompt}", "negative_prompt": "n"},
        {"name": "brand-new", "prompt": "{prompt}, new"},  # Fooocus files may leave a key out
    ]))
    (root / "styles" / "zzz_later.json").write_text(json.dumps([{"name": "Brand New", "prompt": "later {prompt}"}]))
    snap = Catalog(root).snapshot()
    assert snap.styles["Fooocus Sharp"].prompt == "mine {prompt}"
    assert (snap.styles["Fooocus Sharp"].source, snap.styles["Fooocus Sharp"].origin) == ("aaa_mine.json", "user")
    assert snap.styles["Brand New"].prompt == "later {prompt}"
    assert snap.styles["Brand New"].negative_prompt == ""


@pytest.mark.parametrize(
    "content",
    ["{not json", json.dumps({"name": "x"}), json.dumps([{"prompt": "no name"}]),
     json.dumps([{"name": "Random Style", "prompt": "{prompt}"}])],
)
def test_a_bad_file_is_reported_and_skipped(tmp_path, content):
    root = catalog_dir(tmp_path, models={})
    (root / "styles" / "broken.json").write_text(content)
    snap = Catalog(root).snapshot()
    assert any(p.startswith("styles/broken.json skipped") for p in snap.problems), snap.problems
    assert "Fooocus Sharp" in snap.styles  # the other files still load


def test_raw_names_find_styles(tmp_path):
    snap = Catalog(catalog_dir(tmp_path, models={})).snapshot()
    assert snap.style("sai-anime").name == "SAI Anime"
    assert snap.style("fooocus sharp").name == "Fooocus Sharp"
    assert snap.style("no such style") is None


def test_style_application_fills_the_prompt_per_line(tmp_path):
    snap = Catalog(catalog_dir(tmp_path, models={})).snapshot()
    positive, negative = snap.styles["SAI Anime"].apply("a cat")
    assert positive == [snap.styles["SAI Anime"].prompt.replace("{prompt}", "a cat")]
    assert negative == [snap.styles["SAI Anime"].negative_prompt]
