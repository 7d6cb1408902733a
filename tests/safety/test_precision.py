"""Lexicon precision across languages: ordinary words that resemble listed ones are not refused,
while the listed words themselves still are (each pair below failed one way before its fix)."""

import pytest

from kino.safety.moderation import moderate_prompt
from kino.safety.normalize import normalize


@pytest.mark.parametrize(
    "prompt",
    [
        "un capitán de barco al timón durante una tormenta",  # "timón" (helm) is not Timon
        "un champ de violettes au printemps",  # not "violer" with its double letters made single
        "ein Tennisspieler schlägt einen m ö r d e r i s c h e n Aufschlag",  # not "mord" + "erischen"
        "кошка по кличке Симба спит на подоконнике",  # "Симба" leaves no Latin "cum" behind
        "a golden retriever named Simba catching a frisbee",  # a pet's name
        "a quiet street in Obama, a small fishing town in Fukui",  # a place, by apposition
        "убийственно красивый закат над Волгой",  # the adjective, figurative
        "голые деревья в парке поздней осенью",  # bare trees
        "o estádio explodiu de alegria com o gol",  # an explosion of joy at a stadium
    ],
)
def test_ordinary_words_are_allowed(prompt):
    assert moderate_prompt(prompt).allowed, moderate_prompt(prompt)


@pytest.mark.parametrize(
    "prompt",
    [
        "Timon and Pumbaa dancing in the jungle",
        "a man violer une femme dans la rue",
        "n u d e g i r l s on a beach",  # a term inside spaced letters that read as words
        "Simba and Nala running across the savanna",
        "Obama giving a speech in the rain",
        "видео убийства человека ножом",
        "голые женщины в бане",
        "a man beheeding a prisoner",  # a misspelling in English is still read
        "Beyoncé llorando en una rueda de prensa",  # capitalised names keep their accents
    ],
)
def test_listed_words_are_still_refused(prompt):
    assert not moderate_prompt(prompt).allowed


def test_cyrillic_words_stay_out_of_the_latin_view():
    assert "cum" not in normalize("Симба").tokens
    assert normalize("kіll").tokens == ("kill",)  # a Cyrillic "і" in a Latin word is a disguise
