"""Red flags: emergencies are caught in Chinese and English; general and negated questions are not."""

from __future__ import annotations

import dataclasses

import pytest

from kgrag.errors import ConfigError
from kgrag.generation.safety import (
    HISTORY_USER_TURNS,
    RedFlag,
    advice_for,
    assess,
    find_red_flags,
    parse_red_flags,
    red_flag_rules,
)
from kgrag.generation.types import Message

EMERGENCIES = {
    "chest_pain": [
        "我胸口疼，还出冷汗",
        "突然胸痛，疼到左肩",
        "胸闷，出了一身大汗",
        "我爸胸口压榨样的痛",
        "胸部剧痛怎么办",
        "I have crushing chest pain",
        "my chest hurts and I'm sweating",
        "pain radiating down my left arm",
        "I think I'm having a heart attack",
        "chest pain and short of breath right now",
    ],
    "stroke": [
        "我爸突然说话不清，嘴角歪了",
        "我妈口角歪斜",
        "我右边胳膊突然没劲，抬不起来",
        "突然看不见东西了",
        "my face is drooping on one side",
        "my dad's speech is slurred and his arm is weak",
        "she suddenly can't lift her arm",
        "I have the worst headache of my life",
        "is this a stroke? my smile looks crooked",
    ],
    "bleeding": [
        "我吐血了",
        "孩子流鼻血止不住",
        "拉黑便三天了",
        "伤口大出血",
        "I'm vomiting blood",
        "the bleeding won't stop",
        "my stool is black and tarry",
        "he is coughing up blood now",
    ],
    "breathing": [
        "我喘不上气",
        "呼吸困难，嘴唇发紫",
        "孩子被果冻噎住了",
        "I can't breathe",
        "I cant breathe",
        "my son is choking on a grape",
        "he is gasping for air",
        "her lips are turning blue",
    ],
    "self_harm": [
        "我不想活了",
        "我想死",
        "活着没意思，想自杀",
        "最近一直想轻生",
        "我想割腕",
        "I want to kill myself",
        "I'm thinking about ending my life",
        "no one cares, I want to die",
        "I feel suicidal",
        "everyone would be better off dead without me, I want to end it all",
    ],
    "anaphylaxis": [
        "吃了海鲜后喉咙肿",
        "被蜂蜇了，嘴唇肿，喘不上气，我有过敏",
        "打针后过敏，呼吸困难",
        "my throat is swelling after eating peanuts",
        "I got stung by a bee and my throat is closing",
        "allergic reaction, I can't breathe",
    ],
    "poisoning": [
        "孩子误服了爸爸的降压药",
        "我吃了一整瓶安眠药",
        "他喝了农药",
        "I took a whole bottle of pills",
        "my toddler swallowed a button battery",
        "I overdosed on tylenol",
        "my son drank bleach",
    ],
    "seizure": [
        "孩子抽搐不止",
        "我妈癫痫发作，抽了十分钟还没停",
        "宝宝高烧抽搐",
        "my son is having a seizure",
        "she has been seizing for 10 minutes",
        "the seizure won't stop",
    ],
    "unconscious": [
        "我爸晕倒了，叫不醒",
        "奶奶突然昏迷",
        "my friend collapsed and is unresponsive",
        "he passed out and won't wake up",
    ],
    "infant_fever": [
        "宝宝发烧，脖子发硬",
        "两个月的宝宝发烧38.5度",
        "孩子高烧，精神很差，叫不醒",
        "my 2 month old has a fever",
        "my son has a high fever and a stiff neck",
        "fever and a purple rash that doesn't fade",
    ],
    "burns": [
        "孩子被开水大面积烫伤",
        "我脸被烧伤了，起了很多泡",
        "触电了怎么办",
        "I have a severe burn on my arm",
        "my son burned his whole hand and the skin is white and leathery",
        "he was electrocuted",
    ],
    "pregnancy_bleeding": [
        "怀孕8周，出血了",
        "孕30周，肚子剧痛",
        "我怀孕了，流血不止",
        "I'm 10 weeks pregnant and bleeding",
        "pregnant with severe abdominal pain",
        "my wife is pregnant and her water broke",
    ],
    "head_injury": [
        "孩子摔到头后一直呕吐",
        "我爸头被撞了，现在意识模糊",
        "my dad hit his head and is vomiting",
        "she fell and hit her head and now she's confused",
    ],
}

NOT_EMERGENCIES = [
    # definitional and general-knowledge questions
    "What is a stroke?",
    "什么是心肌梗死",
    "symptoms of heart attack",
    "What are the symptoms of a heart attack, like crushing chest pain?",
    "What causes sudden chest pain?",
    "I want to know the symptoms of stroke such as face drooping",
    "胸痛伴出汗是什么原因",
    "中风有哪些征兆？口角歪斜算吗",
    "青少年自杀的原因有哪些",
    "What is suicide prevention?",
    "什么是过敏性休克",
    "how is anaphylaxis treated?",
    "胸闷气短是什么原因",
    # negations
    "I have no chest pain",
    "没有胸痛，也没有呼吸困难",
    "患者否认胸痛",
    "I don't want to die",
    "我没有自杀的想法",
    "我不想死",
    "denies vomiting blood",
    "my son has no fever and no stiff neck",
    # ordinary questions
    "糖尿病挂什么科？",
    "How do I treat a headache?",
    "我有糖尿病，可以吃阿司匹林吗",
    "我有点胸闷",
    "我嗓子肿了，吃什么药",
    "my son has a fever of 39",
    "高血压吃什么药",
]


@pytest.mark.parametrize(
    ("kind", "text"), [(k, t) for k, texts in EMERGENCIES.items() for t in texts], ids=lambda x: str(x)[:40]
)
def test_red_flags_are_emergencies_in_both_languages(kind: str, text: str) -> None:
    a = assess(text)
    assert a.emergency, text
    assert kind in a.kinds, (text, a.red_flags)
    assert a.advice


def test_every_kind_is_covered_by_the_examples_in_both_languages() -> None:
    assert set(EMERGENCIES) == set(red_flag_rules().kinds)
    for kind, texts in EMERGENCIES.items():
        langs = {"zh" if any("\u4e00" <= c <= "\u9fff" for c in t) else "en" for t in texts}
        assert langs == {"zh", "en"}, kind


@pytest.mark.parametrize("text", NOT_EMERGENCIES)
def test_general_negated_and_ordinary_questions_are_not_emergencies(text: str) -> None:
    a = assess(text)
    assert not a.emergency, (text, a.red_flags)
    assert a.red_flags == ()
    assert a.advice is None


def test_negation_is_clause_local() -> None:
    a = assess("I have no chest pain but my face is drooping")
    assert a.kinds == ("stroke",)
    assert assess("没有发烧，但是突然胸痛").kinds == ("chest_pain",)


def test_red_flag_reports_the_matched_text() -> None:
    assert RedFlag("self_harm", "kill myself") in assess("I want to kill myself").red_flags
    assert assess("我胸口疼，还出冷汗").red_flags == (RedFlag("chest_pain", "胸口疼+冷汗"),)


def test_traditional_chinese_and_full_width_text_are_matched() -> None:
    assert assess("我爸突然說話不清").kinds == ("stroke",)
    assert assess("ＩＣＡＮ'Ｔ ＢＲＥＡＴＨＥ").emergency is False  # no space: not the words
    assert assess("Ｉ ｃａｎ'ｔ ｂｒｅａｔｈｅ").kinds == ("breathing",)


def test_advice_is_in_the_question_language() -> None:
    zh = assess("我胸口疼，还出冷汗")
    en = assess("I have crushing chest pain")
    assert zh.lang == "zh" and en.lang == "en"
    assert "120" in zh.advice and "急救" in zh.advice and "阿司匹林" in zh.advice
    assert "911" in en.advice and "aspirin only if" in en.advice
    assert not any("\u4e00" <= c <= "\u9fff" for c in en.advice)


def test_explicit_lang_overrides_detection() -> None:
    a = assess("I can't breathe", lang="zh")
    assert a.lang == "zh" and "呼吸" in a.advice and "不是医生" in a.disclaimer


def test_self_harm_advice_gives_crisis_lines_and_support() -> None:
    zh = assess("我不想活了").advice
    en = assess("I want to kill myself").advice
    assert "010-82951332" in zh and "400-161-9995" in zh and "不孤单" in zh
    assert "988" in en and "not alone" in en and "010-82951332" in en
    # self-harm alone opens with support, not the generic ambulance line
    assert zh.startswith("你并不孤单") and en.startswith("You are not alone")


def test_several_kinds_give_the_call_line_first_and_self_harm_last() -> None:
    advice = advice_for(["self_harm", "poisoning"], "en")
    lines = advice.splitlines()
    assert lines[0].startswith("This may be a medical emergency")
    assert lines[1].startswith("Poisoning")
    assert lines[-1].startswith("You are not alone")
    a = assess("I took a whole bottle of pills to kill myself")
    assert set(a.kinds) == {"self_harm", "poisoning"}


def test_disclaimer_is_always_given_in_the_question_language() -> None:
    assert "not a doctor" in assess("What is diabetes?").disclaimer
    assert "不是医生" in assess("糖尿病是什么？").disclaimer
    assert "research" in assess("What is diabetes?").disclaimer


def test_recent_user_turns_of_the_history_are_checked() -> None:
    history = [Message("user", "I have crushing chest pain"), Message("assistant", "Call 911 now.")]
    a = assess("what should I take for it?", history=history)
    assert a.emergency and a.kinds == ("chest_pain",)
    assert a.lang == "en"


def test_assistant_turns_and_older_user_turns_are_not_checked() -> None:
    assert not assess("thanks", history=[Message("assistant", "If you want to kill yourself, call 988")]).emergency
    old = [Message("user", "我想死")] + [Message("user", "好的")] * HISTORY_USER_TURNS
    assert not assess("谢谢", history=old).emergency


def test_assessment_is_frozen() -> None:
    a = assess("What is a stroke?")
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.emergency = True  # type: ignore[misc]


def test_unknown_language_is_refused() -> None:
    with pytest.raises(ConfigError, match="lang must be one of"):
        assess("hello", lang="fr")


def test_find_red_flags_on_empty_text() -> None:
    assert find_red_flags("   ") == ()


ADVICE = "\n".join(
    f"{k}\t{lang}\tlabel\tadvice {k} {lang}" for k in ("x", "@lead", "@disclaimer") for lang in ("zh", "en")
)


def test_rules_file_format_is_checked() -> None:
    rules = parse_red_flags("x\ten\talone\tboom\n# comment\n", ADVICE)
    assert find_red_flags("boom", rules) == (RedFlag("x", "boom"),)
    with pytest.raises(ConfigError, match="src:1"):
        parse_red_flags("x\ten\tsometimes\tboom", ADVICE, "src")
    with pytest.raises(ConfigError, match="bad pattern"):
        parse_red_flags("x\ten\talone\t(boom", ADVICE)
    with pytest.raises(ConfigError, match="no advice for 'y'"):
        parse_red_flags("y\ten\talone\tboom", ADVICE)
    with pytest.raises(ConfigError, match="unknown cue list"):
        parse_red_flags("@mood\ten\t-\thappy", ADVICE)
