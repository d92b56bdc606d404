"""Styles: Fooocus's file format and name normalization, our shipped set, later files winning, bad files."""

from __future__ import annotations

import json

import pytest

from orchestrator.catalog import Catalog, normalize_style_name
from orchestrator.catalog.styles import SPECIAL_STYLES, load_styles
from tests.orchestrator.catalog_samples import REPO_CATALOG, catalog_dir

FOOOCUS_NAMES = ["Fooocus Enhance", "Fooocus Sharp", "Fooocus Negative", "Fooocus Photograph", "Fooocus Cinematic",
                 "Fooocus Masterpiece"]


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
    for name in FOOOCUS_NAMES:
        assert name in styles, name
    for name, style in styles.items():
        assert normalize_style_name(name) == name  # shown exactly as written
        assert name not in SPECIAL_STYLES
        assert style.prompt or style.negative_prompt, name
        assert style.prompt.count("{prompt}") <= 1, name
        assert "{prompt}" not in style.negative_prompt, name
    # Both kinds exist: templates that wrap the prompt and negative-only styles.
    assert styles["Fooocus Sharp"].has_placeholder
    assert not styles["Fooocus Enhance"].has_placeholder and styles["Fooocus Enhance"].negative_prompt


def test_user_files_win_over_shipped_ones(tmp_path):
    root = catalog_dir(tmp_path, models={})
    (root / "styles" / "aaa_mine.json").write_text(json.dumps([
        {"name": "fooocus-sharp", "prompt": "mine {prompt}", "negative_prompt": "n"},
        {"name": "brand-new", "prompt": "{prompt}, new"},  # Fooocus files may leave a key out
    ]))
    (root / "styles" / "zzz_later.json").write_text(json.dumps([{"name": "Brand New", "prompt": "later {prompt}"}]))
    snap = Catalog(root).snapshot()
    assert snap.styles["Fooocus Sharp"].prompt == "mine {prompt}"
    assert snap.styles["Fooocus Sharp"].source == "aaa_mine.json"
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
