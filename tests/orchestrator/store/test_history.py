"""History index: add, get, keyset pages (stable while images arrive), filters, full-text, star, delete."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestrator.common.image_params import LoraUse
from orchestrator.store.history.index import History, HistoryError
from orchestrator.store.history.query import HistoryQuery, QueryError
from orchestrator.store.history.schema import LATEST, schema_version
from orchestrator.store.history.search import fts_expression
from orchestrator.store.outputs import OutputStore
from tests.orchestrator.store.history_samples import image_bytes, sample_params

T0 = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def history(tmp_path: Path):
    store = OutputStore(tmp_path / "outputs")
    hist = History(tmp_path / "outputs" / "history.db", store)
    yield hist
    hist.close()


def add(history: History, n: int = 0, fmt: str = "png", **changes) -> str:
    params = sample_params(**changes)
    rel = history.outputs.save(image_bytes(fmt), fmt, job_id=f"job-{n}")
    return history.add(relpath=rel, job_id=f"job-{n}", params=params, width=64, height=48, fmt=fmt,
                       created=T0 + timedelta(seconds=n))


def page(history: History, **params) -> tuple[list[str], str | None]:
    result = history.page(HistoryQuery.from_params({k: str(v) for k, v in params.items()}))
    return [i.id for i in result.items], result.next_cursor


def test_add_then_get_returns_the_columns_and_urls(history: History) -> None:
    image_id = add(history, fmt="webp", seed=42, prompt="a lighthouse at dusk")
    item = history.get(image_id)
    assert item is not None
    assert (item.prompt, item.seed, item.format, item.job_id, item.source) == (
        "a lighthouse at dusk", 42, "webp", "job-0", "generated")
    assert item.model == "juggernautXL_v8Rundiffusion" and item.model_hash == "aeb7e9e689"
    assert item.styles == ["Fooocus V2", "Fooocus Enhance", "Fooocus Sharp"]
    assert item.loras == [{"name": "sdxl_offset_lora", "weight": 0.1, "hash": "4852686128"}]
    assert item.params["adm_guidance"] == [1.5, 0.8, 0.3]
    assert item.url == "/outputs/" + item.path and item.thumb_url == "/thumbs/" + item.path
    assert item.created == "2024-03-01T12:00:00.000000Z"
    assert history.get("nope") is None


def test_add_refuses_a_path_that_is_not_a_saved_image(history: History) -> None:
    with pytest.raises(HistoryError, match="^relpath: '../x.png'"):
        history.add(relpath="../x.png", job_id="j", params=sample_params(), width=1, height=1, fmt="png")


def test_pages_are_newest_first_and_complete(history: History) -> None:
    ids = [add(history, n) for n in range(7)]
    seen, cursor = [], None
    while True:
        got, cursor = page(history, limit=3, **({"cursor": cursor} if cursor else {}))
        seen += got
        if cursor is None:
            break
    assert seen == ids[::-1]


def test_paging_is_stable_while_images_are_added(history: History) -> None:
    old = [add(history, n) for n in range(6)]
    first, cursor = page(history, limit=2)
    newer = [add(history, 100 + n) for n in range(5)]  # arrive between page requests
    rest = []
    while cursor:
        got, cursor = page(history, limit=2, cursor=cursor)
        rest += got
    assert first + rest == old[::-1]  # no duplicates, nothing skipped
    assert page(history, limit=5)[0] == newer[::-1]


def test_filters_model_starred_and_time_range(history: History) -> None:
    a = add(history, 0, base_model="modelA")
    b = add(history, 3600 * 24, base_model="modelB")
    c = add(history, 3600 * 48, base_model="modelA")
    assert page(history, model="modelA")[0] == [c, a]
    history.set_starred(b, True)
    assert page(history, starred="true")[0] == [b]
    assert page(history, starred="false")[0] == [c, a]
    assert page(history, since="2024-03-02")[0] == [c, b]
    assert page(history, until="2024-03-02")[0] == [b, a]  # a bare date covers its whole day
    assert page(history, since="2024-03-02T00:00:00+00:00", until="2024-03-02T23:00:00Z")[0] == [b]
    assert page(history, model="modelA", since="2024-03-02")[0] == [c]


def test_full_text_search_over_prompt_and_negative(history: History) -> None:
    fox = add(history, 0, prompt="a red fox in snow", negative_prompt="blurry")
    owl = add(history, 1, prompt="an owl at night", negative_prompt="fox, cartoon")
    cafe = add(history, 2, prompt="Café interior, warm light", negative_prompt="")
    assert page(history, q="fox")[0] == [owl, fox]
    assert page(history, q="red fox")[0] == [fox]
    assert page(history, q="cafe")[0] == [cafe]  # diacritics folded
    assert page(history, q="NIGH*")[0] == [owl]
    assert page(history, q="red fox, snow")[0] == [fox]  # a pasted prompt's commas are plain text
    history.set_starred(owl, True)  # starring keeps the full-text index intact
    assert page(history, q="owl", starred="true")[0] == [owl]


def test_query_validation_names_the_parameter() -> None:
    cases = {
        "limit": {"limit": "0"},
        "starred": {"starred": "maybe"},
        "since": {"since": "yesterday"},
        "until": {"until": "2024-13-01"},
        "cursor": {"cursor": "!!!"},
        "q": {"q": "* **"},
        "sort": {"sort": "asc"},
    }
    for field, params in cases.items():
        with pytest.raises(QueryError) as err:
            HistoryQuery.from_params(params)
        assert err.value.field == field
        assert str(err.value).startswith(f"{field}: ")


def test_search_text_becomes_fts5_with_words_quoted() -> None:
    assert fts_expression('fox "den" OR owl*') == '"fox" AND "den" OR "owl"*'
    assert fts_expression("styles:anime NOT model:(pony OR juggernaut)") == (
        'styles : "anime" NOT models : ( "pony" OR "juggernaut" )')
    assert fts_expression("fox (snow OR ice)") == '"fox" AND ( "snow" OR "ice" )'
    assert fts_expression("Hyper-SD, 8k") == '"Hyper-SD," AND "8k"'
    for bad, words in (("   ", "no words"), ("fox OR", "syntax error at the end"), ("NOT fox", 'near "NOT"'),
                       ('"fox', "not closed"), ("(fox", "syntax error"), ("fox)", 'near ")"')):
        with pytest.raises(QueryError) as err:
            fts_expression(bad)
        assert err.value.field == "q" and words in err.value.message, bad


def test_search_covers_prompts_styles_and_model_names(history: History) -> None:
    fox = add(history, 0, prompt="a red fox", styles=["SAI Anime"], base_model="sdxl/ponyDiffusion.safetensors")
    house = add(history, 1, prompt="a lighthouse", negative_prompt="fog", styles=["Fooocus Sharp"],
                base_model="juggernautXL_v8Rundiffusion.safetensors", refiner_model="refinerXL.safetensors",
                loras=[LoraUse(name="detail-tweaker.safetensors", weight=0.5)])
    owl = add(history, 2, prompt="an owl", styles=[], loras=[])
    assert page(history, q="fox OR lighthouse")[0] == [house, fox]
    assert page(history, q="anime")[0] == [fox]
    assert page(history, q="fog")[0] == [house]
    assert page(history, q="juggernautXL")[0] == [owl, house]
    assert page(history, q="pony*")[0] == [fox]
    assert page(history, q="refinerXL")[0] == [house] and page(history, q="tweaker")[0] == [house]
    assert page(history, q="styles:sharp")[0] == [house] and page(history, q="prompt:sharp")[0] == []
    assert page(history, q="owl NOT anime")[0] == [owl]
    assert page(history, q="(fox OR owl) styles:anime")[0] == [fox]


def test_the_model_filter_takes_the_file_name_or_the_name_the_metadata_shows(history: History) -> None:
    generated = add(history, 0, base_model="sdxl/juggernautXL_v8Rundiffusion.safetensors")
    imported = add(history, 1, base_model="juggernautXL_v8Rundiffusion")  # as Fooocus's metadata names it
    add(history, 2, base_model="ponyDiffusion.safetensors")
    both = [imported, generated]
    for name in ("juggernautXL_v8Rundiffusion", "juggernautXL_v8Rundiffusion.safetensors",
                 "sdxl/juggernautXL_v8Rundiffusion.safetensors", "JUGGERNAUTxl_v8rundiffusion"):
        assert page(history, model=name)[0] == both, name
    assert page(history, model="juggernaut")[0] == []


def test_delete_removes_file_row_and_thumbnail(history: History) -> None:
    keep, gone = add(history, 0), add(history, 1)
    row = history.row(gone)
    thumb = history.thumbnail(row)
    assert thumb is not None and thumb.exists()
    result = history.delete([gone, "unknown"])
    assert result == {"deleted": [gone], "missing": ["unknown"], "failed": []}
    assert not (history.outputs.root / row["path"]).exists() and not thumb.exists()
    assert history.get(gone) is None and history.get(keep) is not None
    assert page(history, q="fox")[0] == [keep]


def test_schema_is_versioned_and_reopens(tmp_path: Path) -> None:
    store = OutputStore(tmp_path)
    first = History(tmp_path / "h.db", store)
    rel = store.save(image_bytes("png"), "png", job_id="j")
    image_id = first.add(relpath=rel, job_id="j", params=sample_params(), width=64, height=48, fmt="png")
    assert schema_version(first.db) == LATEST
    assert first.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    first.close()
    again = History(tmp_path / "h.db", store)
    assert again.get(image_id) is not None
    again.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "h.db")
    conn.execute(f"PRAGMA user_version = {LATEST + 1}")
    conn.close()
    with pytest.raises(RuntimeError, match="newer than this remgo knows"):
        History(tmp_path / "h.db", OutputStore(tmp_path))


def test_images_made_in_the_same_instant_keep_a_stable_distinct_order(history: History) -> None:
    same = [add(history, 0) for _ in range(4)]  # identical `created`
    created = [history.get(i).created for i in same]
    assert created == ["2024-03-01T12:00:00.000000Z", "2024-03-01T12:00:00.000001Z",
                       "2024-03-01T12:00:00.000002Z", "2024-03-01T12:00:00.000003Z"]
    first, cursor = page(history, limit=2)
    second, end = page(history, limit=2, cursor=cursor)
    assert first + second == same[::-1] and end is None


def test_search_results_page_with_the_cursor_too(history: History) -> None:
    hits = [add(history, n, prompt=f"glass lantern {n}") for n in range(0, 10, 2)]
    for n in range(1, 10, 2):
        add(history, n, prompt="stone bridge")
    seen, cursor = [], None
    while True:
        got, cursor = page(history, q="lantern", limit=2, **({"cursor": cursor} if cursor else {}))
        seen += got
        if cursor is None:
            break
    assert seen == hits[::-1]
    assert page(history, q="lantern", since="2024-03-01T12:00:03Z", until="2024-03-01T12:00:07Z")[0] == [
        hits[3], hits[2]]


def test_adds_and_pages_from_many_threads_at_once(history: History) -> None:
    import threading

    errors: list[BaseException] = []
    added: list[str] = []

    def writer(k: int) -> None:
        try:
            for n in range(8):
                added.append(add(history, k * 100 + n))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def reader() -> None:
        try:
            for _ in range(20):
                page(history, limit=5, q="fox")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)] + [threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(page(history, limit=100)[0]) == sorted(added) and len(set(added)) == 32
