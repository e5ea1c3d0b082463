"""An article's language: detected offline from its text, settled against its feed's
declaration; accurate on real news in the languages the example watchlists follow."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

from monitor.matching.language import Settled, detect, primary, settle

MASAKHANEWS = Path(__file__).resolve().parents[2].parent / "shared/data/labeled/masakhanews"

# Real news sentences, written for these tests.
SENTENCES = {
    "ja": "北大西洋条約機構は東京に連絡事務所を開設する計画について、フランスが反対している。",
    "ko": "북한이 러시아에 병력을 파견했다고 국가정보원이 밝혔다.",
    "zh": "尼日利亚奈拉对美元汇率再创新低，央行表示将采取措施稳定市场。",
    "ru": "НАТО откроет офис в Японии, сообщили источники в Токио.",
    "fr": "La France s'oppose à l'ouverture d'un bureau de l'OTAN à Tokyo.",
    "en": "The naira weakened in the parallel markets on Monday, traders in Lagos said.",
}


@pytest.mark.parametrize(("language", "text"), sorted(SENTENCES.items()))
def test_it_detects_real_sentences(language: str, text: str) -> None:
    found = detect(text)
    assert found is not None and found[0] == language


@pytest.mark.parametrize(
    ("declared", "text", "settled"),
    [
        (None, SENTENCES["ru"], Settled("ru", "ru")),  # filled in
        ("en", SENTENCES["ru"], Settled("ru", "ru")),  # declared wrong: overridden
        ("fr-FR", SENTENCES["fr"], Settled("fr-FR", "fr")),  # agreed: the region is kept
        ("en", "НАТО в Токио", Settled("en")),  # too short to tell: the declaration stands
        (None, "НАТО", Settled(None)),  # too short and undeclared: unknown
        ("", "Short.", Settled(None)),
    ],
)
def test_it_settles_the_language(declared: str | None, text: str, settled: Settled) -> None:
    found = settle(declared, text)
    assert (found.language, found.detected) == (settled.language, settled.detected)
    assert (found.confidence is None) == (settled.detected is None)


def test_a_less_sure_detection_leaves_the_declaration() -> None:
    # Mixed text, half English and half French: the French side is not sure enough to
    # override English, which the text does not rule out; German it does rule out.
    text = "Le bureau de l'OTAN à Tokyo. The office in Tokyo opens."
    found = settle("en", text)
    assert found.confidence is not None and found.confidence < 0.9
    assert (found.language, found.detected) == ("en", "fr")
    assert settle("de", text).language == "fr"


def test_it_reads_the_summary_and_content_after_the_title() -> None:
    assert settle(None, "НАТО", "", SENTENCES["ru"]).language == "ru"
    assert primary("pt_BR") == "pt" and primary(None) is None and primary("") is None


@pytest.mark.skipif(not MASAKHANEWS.exists(), reason="../shared/data/labeled/masakhanews absent")
@pytest.mark.parametrize(
    ("folder", "code", "at_least"),
    [
        ("eng", "en", 0.98),
        ("hau", "ha", 0.98),
        ("ibo", "ig", 0.98),
        ("yor", "yo", 0.98),
        ("pcm", "pcm", 0.9),
    ],
)
def test_it_detects_the_masakhanews_languages(folder: str, code: str, at_least: float) -> None:
    csv.field_size_limit(sys.maxsize)
    with (MASAKHANEWS / folder / "dev.tsv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))[:100]
    right = sum(settle(None, r["headline"], "", r["text"]).language == code for r in rows)
    assert right >= at_least * len(rows)
    # A feed that declares the right language keeps it.
    kept = sum(settle(code, r["headline"], "", r["text"]).language == code for r in rows)
    assert kept >= 0.98 * len(rows)
