"""Pairs of characters against dictionary segmenters, for Chinese, Japanese and Korean text:
which finds the words a desk asks for, which errs, and what each costs.

    .venv/bin/python benchmarks/segmenting.py     # the table in docs/watchlists.md

The segmenters are SudachiPy (Japanese, its core dictionary, modes A and C) and kiwipiepy
(Korean); neither is a dependency of the service, so install them to run this
(``pip install sudachipy sudachidict_core kiwipiepy``); an absent one is left out. Each case
is a query word and a real news sentence (written for this benchmark), with whether the word
is really there as a word: a segmenter matches when the query's tokens stand in a row among
the sentence's, the pairs when the matcher (monitor.matching) finds the query.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.matching import Document, Matcher  # noqa: E402
from monitor.matching.text import tokenise  # noqa: E402
from monitor.watchlists import WatchlistSpec  # noqa: E402

# (query word, sentence, is the word there as a word)
JAPANESE = [
    ("東京", "NATO東京連絡事務所の開設にフランスが反対した", True),
    ("事務所", "NATO東京連絡事務所の開設にフランスが反対した", True),
    ("連絡事務所", "NATO東京連絡事務所の開設にフランスが反対した", True),
    ("京都", "東京都の知事が記者会見を開いた", False),
    ("京都", "京都市で国際会議が開かれた", True),
    ("北朝鮮", "北朝鮮が弾道ミサイルを発射した", True),
    ("ミサイル", "北朝鮮が弾道ミサイルを発射した", True),
    ("知事", "東京都の知事が記者会見を開いた", True),
    ("日本", "日本銀行は金利を据え置いた", True),
    ("銀行", "日本銀行は金利を据え置いた", True),
    ("本銀", "日本銀行は金利を据え置いた", False),
    ("外務省", "外務省は声明を発表した", True),
    ("人民", "中国人民銀行が利下げを発表した", True),
    ("米国", "米国と日本は共同声明を出した", True),
    ("都知事", "東京都知事選挙の投票が行われた", True),
    ("選挙", "東京都知事選挙の投票が行われた", True),
    ("会見", "首相は記者会見で辞任を否定した", True),
    ("相は", "首相は記者会見で辞任を否定した", False),
    ("原油", "原油価格の上昇で円安が進んだ", True),
    ("円安", "原油価格の上昇で円安が進んだ", True),
    # Names a dictionary may not hold, as desks watch them.
    ("ティヌブ", "ナイジェリアのティヌブ大統領が来日した", True),
    ("ゼレンスキー", "ゼレンスキー氏はキーウで演説した", True),
    ("ナイラ", "ナイラ相場が急落した", True),
]
KOREAN = [
    ("북한", "북한이 러시아에 병력을 파견했다", True),
    ("러시아", "북한이 러시아에 병력을 파견했다", True),
    ("병력", "북한이 러시아에 병력을 파견했다", True),
    ("한국", "대한민국 정부는 성명을 발표했다", False),
    ("미국", "미국과 일본이 공동성명을 냈다", True),
    ("일본", "미국과 일본이 공동성명을 냈다", True),
    ("성명", "미국과 일본이 공동성명을 냈다", True),
    ("서울", "서울시는 대중교통 요금을 인상했다", True),
    ("요금", "서울시는 대중교통 요금을 인상했다", True),
    ("국방부", "국방부는 연합훈련 계획을 발표했다", True),
    ("방부", "국방부는 연합훈련 계획을 발표했다", False),
    ("훈련", "국방부는 연합훈련 계획을 발표했다", True),
    ("대통령", "대통령이 기자회견을 열었다", True),
    ("회견", "대통령이 기자회견을 열었다", True),
    ("통령", "대통령이 기자회견을 열었다", False),
    ("환율", "원달러 환율이 1400원을 넘었다", True),
    ("연락사무소", "나토가 도쿄에 연락사무소를 연다", True),
    ("사무소", "나토가 도쿄에 연락사무소를 연다", True),
    ("금리", "한국은행이 기준금리를 동결했다", True),
    ("은행", "한국은행이 기준금리를 동결했다", True),
    ("티누부", "나이지리아 티누부 대통령이 방한했다", True),
    ("나이라화", "나이라화 가치가 급락했다", True),
]

Cutter = Callable[[str], list[str]]


def pairs_match(query: str, sentence: str) -> bool:
    matcher = Matcher([WatchlistSpec(id="w", query=query)], filters=False)
    return bool(matcher.match_ids(Document(id="1", content=sentence)))


def segmenter_match(cut: Cutter) -> Callable[[str, str], bool]:
    def match(query: str, sentence: str) -> bool:
        wanted, tokens = cut(query), cut(sentence)
        return any(tokens[at : at + len(wanted)] == wanted for at in range(len(tokens)))

    return match


def segmenters() -> dict[str, tuple[str, Cutter]]:
    """Name -> (language, cutter) for each segmenter installed."""
    found: dict[str, tuple[str, Cutter]] = {}
    try:
        from sudachipy import dictionary, tokenizer

        sudachi = dictionary.Dictionary().tokenizer()
        for mode in ("A", "C"):
            split = getattr(tokenizer.Tokenizer.SplitMode, mode)
            found[f"SudachiPy mode {mode}"] = (
                "ja",
                lambda text, split=split: [m.surface() for m in sudachi.tokenize(text, split)],
            )
    except ImportError:
        print("sudachipy or sudachidict_core not installed: left out", file=sys.stderr)
    try:
        from kiwipiepy import Kiwi

        kiwi = Kiwi()
        found["kiwipiepy"] = ("ko", lambda text: [t.form for t in kiwi.tokenize(text)])
    except ImportError:
        print("kiwipiepy not installed: left out", file=sys.stderr)
    return found


def score(match: Callable[[str, str], bool], cases: list[tuple[str, str, bool]]) -> str:
    got = [(match(q, s), truth) for q, s, truth in cases]
    right = sum(g == t for g, t in got)
    false_hits = sum(g and not t for g, t in got)
    misses = sum(t and not g for g, t in got)
    return f"{right}/{len(cases)} | {false_hits} | {misses}"


def speed(cut: Callable[[str], object], text: str, rounds: int = 5) -> float:
    """µs of CPU per 1,000 characters (fastest of *rounds*)."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        cut(text)
        best = min(best, time.process_time() - started)
    return best / len(text) * 1e9


def main() -> None:
    texts = {
        "ja": "。".join(s for _, s, _ in JAPANESE) * 20,
        "ko": " ".join(s for _, s, _ in KOREAN) * 20,
    }
    cases = {"ja": JAPANESE, "ko": KOREAN}
    print("| language | approach | right | false hits | misses | µs CPU per 1,000 characters |")
    print("|---|---|---:|---:|---:|---:|")
    for language in ("ja", "ko"):
        row = score(pairs_match, cases[language])
        cost = speed(tokenise, texts[language])
        print(f"| {language} | pairs of characters | {row} | {cost:,.0f} |")
        for name, (own, cut) in segmenters().items():
            if own == language:
                row = score(segmenter_match(cut), cases[language])
                print(f"| {language} | {name} | {row} | {speed(cut, texts[language]):,.0f} |")


if __name__ == "__main__":
    main()
