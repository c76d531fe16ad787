"""`HumanRequestDetector`: does the customer's message ask for a human agent (转人工)?

Rules over a folded text (full width -> half width, lower case, traditional -> simplified,
spaces and decorative symbols dropped, clause punctuation kept as `|`):

- a transfer verb + a human: 转人工, 转接人工, 帮我转一下客服, 专人工 (any homophone of 转);
- a request verb + a human: 我要人工, 找客服, 找个人工, 换真人, 有没有活人, 跟真人说话, 让人来处理;
- a human-service noun on its own in its clause: 人工客服在吗, 人工台, 真人客服, 人攻客服;
- a message that is nothing but a human (and fillers): 人工!!!, 客服?, rg, zhuan ren gong;
- on voice channels only, the IVR key 0 on its own: 0, 0#, 零.

Homophone typos typed with pinyin input methods (转仁工, 转人宫, 人攻客服) are caught by character
classes of the same toneless pinyin (`lazy_pinyin`, first reading, GB2312 characters). Those
classes are generated from pypinyin once and kept below as constants, so that serving does not
load pypinyin's ~55 MB tables; a unit test regenerates them. A homophone counts only next to the
exact characters (at least two of 转/人/工 exact), which keeps 个人公积金 and the like out.

A match is dropped when it is negated in its clause (不用转人工, 人工就不用了), asks about the bot
(你是真人吗), asks for information about the service (客服电话是多少, 人工几点上班, 人工费) or
is another word (人工智能, 人工成本, 个人工资).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

import opencc

VOICE_CHANNELS = frozenset({"voice", "phone", "sip", "ivr"})

# Characters whose first toneless reading (lazy_pinyin, Style.NORMAL) is the syllable, among
# the GB2312 characters. Regenerate with `homophones()`; tests check they are current.
ZHUAN = "专啭撰攥砖篆纂缵赚躜转钻颛馔"  # zhuan, zuan (z/zh confused by fuzzy pinyin IMEs)
REN = "人亻仁仞任刃壬妊忍稔纫荏葚衽认轫韧饪"
GONG = "供公共功宫工巩廾弓恭拱攻汞珙肱蚣觥贡躬龚"
HOMOPHONE_SYLLABLES = {"zhuan": ("zhuan", "zuan"), "ren": ("ren",), "gong": ("gong",)}

# 人工 followed by these is another word (人工智能, 人工费, 个人工资, 个人工作证明 …).
_NOT_HUMAN = (
    "智能|智慧|费|成本|作|资|商|号|龄|湖|岛|河|林|草|降雨|增雨|合成|授精|呼吸|流产|晶体|"
    "干预|标注|造|养殖|种植|材料|关节|耳蜗|心脏|神经|骨|牙|时|单价|计|核算|搬运|行卡|行账|"
    "行的卡|行app|日"
)
_HUMAN = f"人工(?!{_NOT_HUMAN})"
_HOMO = f"(?:[{REN}]工|人[{GONG}])(?!{_NOT_HUMAN})"
_PEOPLE = f"(?:{_HUMAN}|真人|活人|工作人员|客服人员|客服(?:小姐姐|小哥哥|妹妹|美女|mm))"
_SERVICE = "(?:客服|服务|台|坐席|座席|专员|接线员|接待)"
_TARGET = f"(?:{_PEOPLE}(?:客服|服务)?|客服(?!电话|热线|号码))"
_FILL = "(?:接|到|给|给我|一下|下|个|一个|一位|位|真正的|你们的|你们|那个)*"
# Verbs that ask for someone; the first group also for a bare 客服 (找客服), the second only for
# a person (请人工, 来个真人: 请客服帮我查 addresses the bot as 客服).
_REQUEST_VERBS = "找|要|接通|接|换|叫|喊|切|呼叫|联系|需要|求"
_PERSON_VERBS = "请|来|上|申请|安排|给我|帮我"

_CUE_PATTERNS = (
    # transfer: 转人工, 转接到客服, 转个真人; homophones next to an exact 转 (转仁工, 转人宫) or
    # an exact 人工 after any 转 homophone (专人工, 赚人工)
    f"转{_FILL}{_TARGET}",
    f"转(?:接|到|给|一下|下)*{_HOMO}",
    f"[{ZHUAN}]{_HUMAN}",
    # a request verb + a human: 我要人工, 找客服, 换真人, 来个人工
    f"(?:{_REQUEST_VERBS}){_FILL}{_TARGET}",
    f"(?:{_PERSON_VERBS}){_FILL}{_PEOPLE}(?:客服|服务)?",
    # is there a human: 有没有活人, 有人工吗 (not a bare 有人吗)
    f"有(?:没有|木有)?(?:个|一个)?{_PEOPLE}(?:客服|服务)?",
    # talk to a human: 跟真人说话, 和人工聊
    "(?:和|跟|同|与)(?:个|一个|你们|你们的)?(?:真人|活人|人工|客服|人)(?:客服)?"
    "(?:说|聊|谈|对话|沟通|通话|讲|交流)",
    # let a person handle it: 让人来处理, 叫个人来 (not 让人来气, nor a technician: 找个人来修)
    "(?:让|找|叫)(?:个|一个)?(?:真正的)?(?:人|工作人员|客服)来(?!气|火|修|装|上门)"
    "(?:处理|帮|看|解决|接|回复)?",
    "让(?:真人|人工|客服|工作人员)(?:来)?(?:处理|接|回复|回答|跟我|联系我|帮我)",
    # a human-service noun; kept only when it stands alone in its clause (`_SERVICE_OK`)
    f"(?P<noun>(?:{_HUMAN}|{_HOMO}){_SERVICE}|真人(?:客服|服务|坐席|接待)|客服小姐姐|客服小哥哥)",
)
# Pinyin typed without converting (spaces were dropped by the folding).
_PINYIN = "(?:zhuan|zuan|转)?rengong(?:kefu|fuwu)?|转rg"

_NEGATION_BEFORE = re.compile(
    "(?:不用|不要|不需要|不必|别|无需|无须|没必要|不想|甭|用不着|不是|先不|暂时不|暂不|(?<![要可])不)"
    "(?:再|给我|帮我|让我|去|麻烦|你|您|帮|用)*"
    f"(?:{_REQUEST_VERBS}|{_PERSON_VERBS}|转接|转|和|跟)?(?:{_FILL})$"
)
_NEGATION_AFTER = re.compile(
    "^(?:客服|服务)?(?:就|先|暂时|也|还是|我|的话)*(?:不用|不要|不需要|不必|算了|免了|没必要|别)"
)
_INFO_AFTER = re.compile(
    "^(?:的)?(?:电话|号码|热线|几点|时间|什么时候|上班|下班|费|收费|要钱|多少钱|怎么收费|是多少|"
    "工号|说|告诉|讲|答应|承诺|态度|让我|叫我)"
)
_IDENTITY_BEFORE = re.compile("(?:是|是不是|是否|是个|是一个|算|像)$")
# After a human-service noun, what may follow for it to still be a request.
_SERVICE_OK = re.compile(
    "^(?:吗|呢|吧|啊|呀|啦|在吗|在不在|在哪|在哪里|有吗|有没有|来|出来|快|快点|马上|接|处理|"
    "帮我|跟我|为什么|怎么|咋|谢谢|$)"
)
_STANDALONE = re.compile(
    "(?:喂|哎|唉|啊|嗯|快|快点|赶紧|马上|立刻|立即|请|麻烦|我要|我想要|我需要|要|给我|帮我|直接|"
    "还是|转)*"
    f"(?:(?:{_PEOPLE}|{_HOMO}|客服|真人客服|rg|zrg|人工服务)(?:客服)?)+"
    "(?:吧|啊|呀|啦|了|哈|呢|呗|嘛|快点|快|马上|谢谢|谢了|好吗|可以吗|行吗|行不行|好不好|ok|"
    "在吗|在不在|在哪|在哪里|在哪儿|出来)*"
)
_IVR_ZERO = re.compile("(?:按)?(?:0|零)#?|#0")

_CLAUSE_PUNCT = re.compile(r"[,，.。!！?？;；:：\n\r]+")
_DROPPED = re.compile(r"[^\w|#]+|_")
_WIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def fold(text: str) -> str:
    """Half width, lower case, simplified script, `|` for clause punctuation, no decoration."""
    text = _t2s().convert(text.translate(_WIDTH).lower())
    return _DROPPED.sub("", _CLAUSE_PUNCT.sub("|", text))


def homophones(syllables: Iterable[str]) -> str:
    """GB2312 characters whose first toneless reading is one of `syllables` (for the tables)."""
    wanted = set(syllables)
    return "".join(char for char, reading in _gb2312_readings() if reading in wanted)


@lru_cache(maxsize=1)
def _gb2312_readings() -> tuple[tuple[str, str], ...]:
    from pypinyin import Style, lazy_pinyin  # generation only: not loaded when serving

    chars = []
    for code in range(0x4E00, 0x9FA6):
        try:
            chars.append(chr(code).encode("gb2312").decode("gb2312"))
        except UnicodeEncodeError:
            continue
    # A list of one-character segments: each character's own first reading, no phrase rules.
    readings = lazy_pinyin(chars, style=Style.NORMAL)
    return tuple(zip(chars, readings, strict=True))


class HumanRequestDetector:
    """Detects explicit requests for a human agent; `cue` returns the matched (folded) phrase."""

    def __init__(self, extra: Iterable[str] = ()) -> None:
        phrases = sorted({f for f in (fold(p).replace("|", "") for p in extra) if f}, key=len)
        patterns = [*_CUE_PATTERNS, *(re.escape(p) for p in reversed(phrases))]
        self._cues = re.compile("|".join(f"(?:{p})" if "?P<" not in p else p for p in patterns))
        self._pinyin = re.compile(_PINYIN)

    def matches(self, text: str, channel: str | None = None) -> bool:
        return self.cue(text, channel) is not None

    def cue(self, text: str, channel: str | None = None) -> str | None:
        if not text:
            return None
        folded = fold(text)
        whole = folded.replace("|", "")
        if channel is not None and channel.lower() in VOICE_CHANNELS and _IVR_ZERO.fullmatch(whole):
            return whole
        if _STANDALONE.fullmatch(whole):
            return whole
        for clause in folded.split("|"):
            found = self._clause_cue(clause)
            if found is not None:
                return found
        return None

    def _clause_cue(self, clause: str) -> str | None:
        for m in self._cues.finditer(clause):
            before, after = clause[: m.start()], clause[m.end() :]
            if m.lastgroup == "noun" and not _SERVICE_OK.match(after):
                continue
            if self._kept(before, after):
                return m.group()
        typed = self._pinyin.search(clause)
        if typed is not None and self._kept(clause[: typed.start()], clause[typed.end() :]):
            return typed.group()
        return None

    @staticmethod
    def _kept(before: str, after: str) -> bool:
        return not (
            _NEGATION_BEFORE.search(before)
            or _NEGATION_AFTER.match(after)
            or _INFO_AFTER.match(after)
            or _IDENTITY_BEFORE.search(before)
        )


DEFAULT = HumanRequestDetector()
