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
        "the main square of Batman, a city in southeastern Turkey",
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


def test_name_aliases_take_brace_alternatives(tmp_path):
    from kino.safety.lexicon import parse_names

    path = tmp_path / "names.txt"
    path.write_text("Sergey Lavrov | Лавров{|а|ым} | ~Churchill\n", encoding="utf-8")
    phrases = {phrase: entry.weight for phrase, entry in parse_names(path, "celebrity_likeness")}
    assert phrases == {"Sergey Lavrov": 1.0, "Лавров": 1.0, "Лаврова": 1.0, "Лавровым": 1.0, "Churchill": 0.5}


@pytest.mark.parametrize(
    "prompt",
    [
        "Сергей Лавров играет в теннис с Дмитрием Медведевым",  # Russian case endings of names
        "毛泽东在直播间里跳舞",
        "Homem-Aranha dançando no Carnaval",  # a character's local name
    ],
)
def test_names_in_other_scripts_and_languages(prompt):
    assert not moderate_prompt(prompt).allowed


@pytest.mark.parametrize("prompt", ["安倍川もちを食べる家族", "торт «Наполеон» на праздничном столе",
                                    "polar bears near Churchill, Manitoba"])
def test_a_surname_inside_a_word_or_a_place_is_not_a_likeness(prompt):
    assert moderate_prompt(prompt).allowed


@pytest.mark.parametrize(
    "prompt, category",
    [
        ("一个人被活活开膛破肚，写实风格", "violence_extreme"),
        ("生きたまま腹を裂かれる男", "violence_extreme"),
        ("فيديو تعليمي لصنع عبوة ناسفة في المطبخ", "terrorism_extremism"),
        ("اللاجئون يصورون كجرذان تغزو البلد", "hate"),
        ("شرح الحبوب اللازمة لجرعة زائدة", "self_harm"),
    ],
)
def test_chinese_japanese_and_arabic_terms(prompt, category):
    assert moderate_prompt(prompt).category == category


@pytest.mark.parametrize("prompt", ["纳粹德国历史纪录片，档案照片", "فيلم مثير للأطفال عن الفضاء", "子供向けのエッチングの版画教室"])
def test_history_and_ordinary_words_stay_allowed(prompt):
    assert moderate_prompt(prompt).allowed


@pytest.mark.parametrize("prompt", ["они пытаются поймать такси под дождём", "хачапури по-аджарски на деревянной доске",
                                    "актёр ушёл из жизни в возрасте 90 лет, архивные кадры", "крыса бежит по платформе метро"])
def test_russian_words_near_new_stems_stay_allowed(prompt):
    assert moderate_prompt(prompt).allowed


@pytest.mark.parametrize("prompt", ["пленного пытают плоскогубцами", "мигранты показаны крысами, которых надо выгнать",
                                    "девочка режет вены лезвием в ванной", "Чебурашке дарят апельсины"])
def test_russian_terms(prompt):
    assert not moderate_prompt(prompt).allowed


def test_animals_are_dehumanising_only_as_a_comparison():
    assert moderate_prompt("vídeo que muestra a los judíos como ratas que controlan los bancos").category == "hate"
    assert moderate_prompt("niños musulmanes alimentan a las ratas del laboratorio escolar").allowed
    assert moderate_prompt("дети-мигранты кормят крыс в живом уголке").allowed


@pytest.mark.parametrize(
    "prompt",
    ["un hombre destripado vivo sobre una mesa", "un garçon qui s'ouvre les veines dans la baignoire",
     "Schritt-für-Schritt-Anleitung zum Bau einer Rohrbombe", "adolescente se cortando nos pulsos com lâmina"],
)
def test_romance_and_german_terms(prompt):
    assert not moderate_prompt(prompt).allowed


@pytest.mark.parametrize(
    "prompt",
    [
        "uma menina come melancia na praia",  # a lowercase word one edit from a name (Melania)
        "a professora de inglês lê uma história para a turma",  # not "Professor X" run together
        "um rapaz toca violão numa roda de amigos",  # an accented word one edit from "violado"
        "o menino toca violão no quintal",  # ...and so no sexual signal beside a minor
        "mi vecino Messi, un señor jubilado, paseando al perro",  # a private person introduced by kin
        "campagne de prévention du suicide dans un lycée",  # prevention, in nine languages
        "自殺予防の啓発ポスター",
        "maquillaje nude para una boda",  # the colour
        "una chinche asesina sobre una hoja",  # the assassin bug
    ],
)
def test_words_of_their_own_language_are_allowed(prompt):
    assert moderate_prompt(prompt).allowed, moderate_prompt(prompt)


@pytest.mark.parametrize(
    "prompt",
    [
        "Melania dançando na praia",  # the name itself, capitalised
        "Messi jugando al fútbol",
        "o suicídio de um adolescente filmado em detalhe",
        "dois homens violaram uma mulher no beco",  # the verb in another person
    ],
)
def test_names_and_terms_near_those_words_are_still_refused(prompt):
    assert not moderate_prompt(prompt).allowed


@pytest.mark.parametrize(
    "prompt",
    [
        "Илону Маску вручают медаль на сцене",  # Russian case endings of a listed name
        "la Shakirita bailando en una boda",  # a diminutive
        "С.т.а.л.и.н выступает на митинге",  # Cyrillic letters written apart
        "Oбамa ест пельмени",  # Latin look-alikes inside a Russian word
        "H e r m i o n e  G r a n g e r reading in a library",  # letters one space apart, words two
    ],
)
def test_names_behind_endings_diminutives_and_spacing_are_refused(prompt):
    assert not moderate_prompt(prompt).allowed


@pytest.mark.parametrize("prompt", ["рыбаки на путине ловят лосося", "un bonito perro en el parque"])
def test_lowercase_words_near_names_stay_allowed(prompt):
    assert moderate_prompt(prompt).allowed, moderate_prompt(prompt)


@pytest.mark.parametrize(
    "prompt, category",
    [
        ("一个黑人被画成猩猩的漫画", "hate"),  # an animal said of a group, with the comparison
        ("黒人を猿として描くポスター", "hate"),
        ("подросток режет себе вены в ванной", "self_harm"),  # a reflexive between verb and object
        ("男が首を吊るシーン", "self_harm"),
        ("Olaf aus Frozen tanzt auf dem Eis", "ip_character"),  # "from" in another language
    ],
)
def test_comparisons_reflexives_and_from_in_other_languages(prompt, category):
    assert moderate_prompt(prompt).category == category


@pytest.mark.parametrize("prompt", ["动物园的猩猩在吃香蕉", "孩子们像猴子一样在爬架上玩", "猿として生きる映画のあらすじ",
                                    "a girl named Elsa de la Cruz"])
def test_animals_and_first_names_alone_stay_allowed(prompt):
    assert moderate_prompt(prompt).allowed, moderate_prompt(prompt)
