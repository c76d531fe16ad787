"""`SentimentDetector`: is the customer angry, strongly negative or complaining (→ a human)?

A lexicon of cue patterns (insults, accusations of cheating, complaints and external escalation
such as 工信部 / 12300 / 媒体曝光, anger words, repeated contacts, sarcasm, negated positives,
emphatic ！！！/？？？) is combined with a small logistic regression over character 1–3-grams of
the normalised text plus one feature per lexicon category. The model is trained at first use
from `bot/handoff/data/sentiment.jsonl` (well under a second) and cached in the process; serving
is a dictionary look-up per n-gram, no scikit-learn call.

Labelling rule of the data (1 = should reach a human, 0 = the bot may go on):

1. anger or insults aimed at the operator, its staff or the bot (垃圾, 骗子, 气死了, 滚, 有病);
2. a complaint: the intent to complain (我要投诉, 投诉你们, 继续投诉) or to escalate outside
   (工信部, 12300, 12315, 消协, 通管局, 媒体曝光, 起诉, 报警);
3. strong negativity or accusation (太差了, 受够了, 恶心, 一点用都没有, 乱扣费, 偷偷给我开,
   强制消费, 霸王条款), emotional demands (退钱！, 马上给我解决, 给我一个说法), frustration at
   repeated contact (第三次了, 说了八百遍, 到底有没有人管), sarcasm (真是太"好"了, 呵呵,
   谢谢你们全家, 你们可真行);
4. emphatic punctuation (！！！, ？？？) counts only together with a grievance.

0: neutral requests and questions, including mildly negative ones asked as a question or stated
plainly (话费怎么这么多, 网速有点慢, 宽带断了帮我报修, 为什么扣了我十块钱, 有点烦, 不太满意);
procedural questions about complaints and suggestions (投诉进度, 投诉渠道, 我想投诉建议一下流程);
negated negatives (不是投诉, 我不生气); spam and fraud vocabulary not aimed at the operator
(垃圾短信怎么拦截, 举报诈骗电话); impatience without a grievance (在吗？？？); thanks and praise,
including literal 真是太好了.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from bot.nlu.normalize import normalize

DATA = Path(__file__).resolve().parent / "data" / "sentiment.jsonl"
# Chosen on the training data by 5-fold cross-validation: the highest threshold whose
# out-of-fold F1 is within 0.01 of the best (an escalation costs an agent's time); see
# bench/sentiment_bench.py, which re-derives it.
DEFAULT_THRESHOLD = 0.35
REGULARISATION_C = 10.0  # inverse L2 strength, picked by the same cross-validation

# Category -> (weight for the lexicon-only score, alternatives on the normalised lower-case text).
LEXICON: dict[str, tuple[float, tuple[str, ...]]] = {
    "insult": (
        0.85,
        (
            "垃圾(?!短信|分类|邮件|电话|桶|食品|清理|文件)|拉圾|辣鸡|废物|智障|傻[子逼瓜x]|sb|煞笔",
            "脑子(?:进水|有问题|有病)|有病|滚(?:开|蛋|出去|吧|犊子|一边|[!,.]|$)|给我滚|狗屁|放屁",
            "混蛋|王八|tmd|特么|他妈|尼玛|你妈|去你的|老子|吸血鬼|强盗|流氓|无耻|不要脸|白痴",
            "干什么吃的|养你们干|要你们有什么用|什么玩意|废话",
        ),
    ),
    "cheat": (
        0.75,
        (
            "骗子(?!电话|短信|冒充)|骗纸|骗人|骗钱|骗我|骗着|欺诈|敲诈|忽悠|糊弄",
            "坑(?:人|爹|死|惨|我|用户|老百姓)|被坑|黑心|太黑|抢钱|明抢|不去抢|去抢|偷(?:钱|我)|吞了",
            "霸王条款|强买强卖|强制(?:消费|开通|扣|给)|乱(?:扣|收费)|偷偷(?:扣|改|开|升级|给)",
            "莫名(?:其妙)?(?:地|的)?(?:扣|被扣|多扣|没了|停)|虚假宣传|提款机|当韭菜|割韭菜|韭菜割",
            "套路|不认账|耍赖",
        ),
    ),
    "complaint": (
        0.8,
        (
            "投诉(?!的?(?:进度|渠道|电话|话|流程|结果|那个|事|方式|材料)|需要|建议)",
            "举报你们|告你们|起诉|法院|律师|报警|讨个说法|给我(?:一个|个)?说法|说理(?!由)",
            "侵犯|侵权|消费者权益",
        ),
    ),
    "external": (
        0.85,
        (
            "工信部|12300|12315|消协|消费者协会|通管局|通信管理局|上级部门|曝光|315|约谈",
            "(?:发|曝光|挂)(?:到)?(?:媒体|微博|抖音|网上)|找媒体|上(?:新闻|电视)",
        ),
    ),
    "anger": (
        0.65,
        (
            "气死|气炸|气疯|气得|火大|(?:我|真|很|太|好|非常|让人)生气|受够|受不了|忍无可忍",
            "无法忍受|崩溃|逼疯|疯了|烦死|烦不烦|有完没完|寒心|恶心|无语|醉了|服了|服气",
            "(?:太|很|非常|彻底|真心|大)失望|失望透顶|呵呵|笑死|搞什么|凭什么|天理|良心|报应",
            "倒闭|没完|倒了霉|受气|欺负(?:我|老人|用户|消费者|老百姓)|好欺负",
        ),
    ),
    "quality": (
        0.6,
        (
            "(?:太|很|最|真|这么|那么|贼|超)差|差劲|差到|烂|什么(?:态度|效率)|这叫什么服务",
            "不办事|不作为|耽误我|责任都不负|不负责|负点责任|什么破|什么鬼|离谱",
            "破(?:服务|网|宽带|套餐|机器人|玩意|信号|网速|系统)",
            "一点用都没有|根本没用|屁用|(?:什么|啥)用都没有|说什么都没用|都没用[!?]|不靠谱|过分",
            "敷衍|踢皮球|摆设|刁难|推卸|卡成狗|一问三不知|答非所问|听不懂人话|不想干了",
            "令人发指|太霸道",
        ),
    ),
    "demand": (
        0.6,
        (
            "退钱[!?]|退钱.*退钱|(?:马上|立刻|赶紧|今天|必须).{0,4}(?:退|解决|处理)",
            "(?:立刻|马上|立即)!|赔偿|赔我|谁来赔|书面道歉|没耐心",
            "(?:找|叫|让)(?:你们)?(?:的)?(?:领导|经理|上级)|经理出来",
        ),
    ),
    "repeat": (
        0.5,
        (
            "第[2-9几]次(?:了|打|来|问|找|投诉|报修|打电话)|第\\d+次了|[2-9几好]\\d*(?:次|遍)了",
            "说了多少(?:遍|次)|多少(?:遍|次)了|(?:[2-9]|\\d{2,})遍",
            "每次都(?:说|让|敷衍|这样|推|是这)|又(?:扣|乱|是这)|一直没人|没人(?:管|理|处理|回|来)",
            "还(?:修|管|退)不(?:修|管|退)|(?<![男女个夫家])人呢|(?<![少多借])钱呢|屡次|拖了",
        ),
    ),
    "sarcasm": (
        0.6,
        (
            "[\"“'「『](?:好|棒|贴心|优质|快|高效|专业|给力|厉害|满意)[^\"”'」』]{0,4}[\"”'」』]",
            "好一个|谢谢你们全家|可真行|你们牛|效率真高|真高啊|就这[?？]|还好意思|有脸|还敢收",
            "还收我",
        ),
    ),
    "negated_positive": (
        0.6,
        (
            "(?:一点(?:都|也)不|根本不|完全不|非常不|很不|太不|极不|毫不)"
            "(?:满意|好|靠谱|负责|专业|行|像话|讲理|合理|方便|诚信)",
            "(?:一点|毫无)诚信|不讲理|对得起",
        ),
    ),
}
EMPHASIS_WEIGHT = 0.35
_EMPHASIS = re.compile("[!！]{2,}|[?？]{2,}|[?？][!！]|[!！][?？]")
_NEGATED = re.compile("(?:不是|不算|没有|没|并非|并不|不)(?:要|想|打算|是|在)?$")
_NEGATABLE = frozenset({"complaint", "anger", "cheat"})
_NOT_AIMED = re.compile("冒充|诈骗|反诈|防诈|骗子电话|骗子短信")  # fraud by others, not us


@dataclass(frozen=True, slots=True)
class Sentiment:
    """`anger`: probability (0..1) that the message is angry / strongly negative / a complaint."""

    anger: float
    cues: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    label: int


@dataclass(frozen=True, slots=True)
class CueMatch:
    category: str
    phrase: str


@lru_cache(maxsize=1)
def _lexicon_pattern() -> re.Pattern[str]:
    groups = (f"(?P<{name}>{'|'.join(alts)})" for name, (_, alts) in LEXICON.items())
    return re.compile("|".join(groups))


def canonical(text: str) -> str:
    """The text the lexicon and the n-grams see: `normalize()` (script, width, numerals)."""
    return normalize(text).text.lower()


def lexicon_cues(text: str, canon: str | None = None) -> tuple[CueMatch, ...]:
    """Lexicon matches in `text` (negated complaints / anger / accusations are skipped)."""
    canon = canonical(text) if canon is None else canon
    found: list[CueMatch] = []
    for m in _lexicon_pattern().finditer(canon):
        category = m.lastgroup or ""
        if category in _NEGATABLE and _NEGATED.search(canon[max(0, m.start() - 4) : m.start()]):
            continue
        if category == "cheat" and _NOT_AIMED.search(canon[max(0, m.start() - 8) : m.end() + 2]):
            continue
        found.append(CueMatch(category, m.group()))
    emphasis = _EMPHASIS.search(text)
    if emphasis is not None:
        found.append(CueMatch("emphasis", emphasis.group()))
    return tuple(found)


def lexicon_score(cues: Iterable[CueMatch]) -> float:
    """Noisy-or of the weights of the matched categories (each category once)."""
    weights = {**{name: w for name, (w, _) in LEXICON.items()}, "emphasis": EMPHASIS_WEIGHT}
    miss = 1.0
    for category in {c.category for c in cues}:
        miss *= 1.0 - weights[category]
    return 1.0 - miss


def features(
    canon: str, cues: Iterable[CueMatch], chars: bool = True, lexicon: bool = True
) -> dict[str, float]:
    """Character 1–3-grams (L2-normalised, binary) and one feature per lexicon category."""
    out: dict[str, float] = {}
    if chars:
        text = canon.replace(" ", "")
        grams = {text[i : i + n] for n in (1, 2, 3) for i in range(len(text) - n + 1)}
        if grams:
            value = 1.0 / math.sqrt(len(grams))
            out = {g: value for g in grams}
    if lexicon:
        for cue in cues:
            out[f"lex:{cue.category}"] = 1.0
    return out


@dataclass(frozen=True, slots=True)
class LinearModel:
    """A fitted logistic regression as a weight table."""

    weights: Mapping[str, float]
    bias: float
    chars: bool = True
    lexicon: bool = True

    def probability(self, canon: str, cues: Iterable[CueMatch]) -> float:
        feats = features(canon, cues, self.chars, self.lexicon)
        z = self.bias + sum(v * self.weights.get(k, 0.0) for k, v in feats.items())
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def load_examples(path: Path = DATA) -> list[Example]:
    rows = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line)
    return [Example(str(r["text"]), int(r["label"])) for r in rows]


def train(
    examples: Iterable[Example],
    chars: bool = True,
    lexicon: bool = True,
    c: float = REGULARISATION_C,
) -> LinearModel:
    """Fit the logistic regression (balanced classes, L2 on the weights, not on the bias)."""
    rows = list(examples)
    vocab: dict[str, int] = {}
    row_ids: list[int] = []
    col_ids: list[int] = []
    values: list[float] = []
    for i, example in enumerate(rows):
        canon = canonical(example.text)
        for name, value in features(
            canon, lexicon_cues(example.text, canon), chars, lexicon
        ).items():
            row_ids.append(i)
            col_ids.append(vocab.setdefault(name, len(vocab)))
            values.append(value)
    matrix = SparseRows(
        np.array(row_ids), np.array(col_ids), np.array(values), len(rows), len(vocab)
    )
    coef, bias = fit_logistic(matrix, np.array([e.label for e in rows]), c)
    weights = {name: float(coef[j]) for name, j in vocab.items() if coef[j]}
    return LinearModel(weights, bias, chars, lexicon)


@dataclass(frozen=True, slots=True)
class SparseRows:
    """A sparse matrix as coordinate arrays (numpy only: no scipy / scikit-learn when serving)."""

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    n_rows: int
    n_cols: int

    def dot(self, w: np.ndarray) -> np.ndarray:
        return np.bincount(self.rows, self.values * w[self.cols], minlength=self.n_rows)

    def t_dot(self, r: np.ndarray) -> np.ndarray:
        return np.bincount(self.cols, self.values * r[self.rows], minlength=self.n_cols)


def logistic_objective(
    x: SparseRows, y: np.ndarray, c: float, params: np.ndarray
) -> tuple[float, np.ndarray]:
    """scikit-learn's objective, class_weight="balanced": value and gradient in (w, b)."""
    sign = np.where(y > 0, 1.0, -1.0)
    counts = np.bincount(y, minlength=2).astype(float)
    sample = len(y) / (2.0 * np.maximum(counts, 1.0))[y]
    w, b = params[:-1], params[-1]
    margin = sign * (x.dot(w) + b)
    loss = c * float(np.sum(sample * np.logaddexp(0.0, -margin))) + 0.5 * float(w @ w)
    r = -c * sample * sign * _sigmoid(-margin)
    return loss, np.append(x.t_dot(r) + w, r.sum())


def fit_logistic(
    x: SparseRows, y: np.ndarray, c: float, tol: float = 1e-6, max_iter: int = 500
) -> tuple[np.ndarray, float]:
    """Minimise `logistic_objective` by L-BFGS (memory 10) with a backtracking line search."""
    params = np.zeros(x.n_cols + 1)
    loss, grad = logistic_objective(x, y, c, params)
    history: list[tuple[np.ndarray, np.ndarray, float]] = []
    for _ in range(max_iter):
        if float(np.abs(grad).max()) <= tol * max(1.0, abs(loss)):
            break
        direction = _lbfgs_direction(grad, history)
        step, slope = 1.0, float(grad @ direction)
        if not history:
            step = 1.0 / max(1.0, float(np.abs(grad).sum()))
        while True:
            new_params = params + step * direction
            new_loss, new_grad = logistic_objective(x, y, c, new_params)
            if new_loss <= loss + 1e-4 * step * slope or step < 1e-10:
                break
            step *= 0.5
        s_k, y_k = new_params - params, new_grad - grad
        curvature = float(s_k @ y_k)
        if curvature > 1e-12:
            history = [*history[-9:], (s_k, y_k, 1.0 / curvature)]
        params, loss, grad = new_params, new_loss, new_grad
    return params[:-1], float(params[-1])


def _lbfgs_direction(
    grad: np.ndarray, history: list[tuple[np.ndarray, np.ndarray, float]]
) -> np.ndarray:
    q = grad.copy()
    alphas = []
    for s_k, y_k, rho in reversed(history):
        alpha = rho * float(s_k @ q)
        q -= alpha * y_k
        alphas.append(alpha)
    if history:
        s_k, y_k, _ = history[-1]
        q *= float(s_k @ y_k) / float(y_k @ y_k)
    for (s_k, y_k, rho), alpha in zip(history, reversed(alphas), strict=True):
        q += (alpha - rho * float(y_k @ q)) * s_k
    return -q


def _sigmoid(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = 0.5 * (1.0 + np.tanh(0.5 * z))
    return out


@lru_cache(maxsize=4)
def _trained(path: Path) -> LinearModel:
    return train(load_examples(path))


class SentimentDetector:
    """Scores anger; `is_escalation` compares it with the threshold (default `DEFAULT_THRESHOLD`)."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, data: Path = DATA) -> None:
        self.threshold = threshold
        self._data = data
        self._model: LinearModel | None = None

    @property
    def model(self) -> LinearModel:
        if self._model is None:  # trained at first use, shared by detectors on the same data
            self._model = _trained(self._data)
        return self._model

    def score(self, text: str) -> Sentiment:
        if not text or not text.strip():
            return Sentiment(0.0, ())
        canon = canonical(text)
        cues = lexicon_cues(text, canon)
        anger = self.model.probability(canon, cues)
        return Sentiment(round(anger, 4), tuple(dict.fromkeys(c.phrase for c in cues)))

    def is_escalation(self, text: str, threshold: float | None = None) -> bool:
        limit = self.threshold if threshold is None else threshold
        return self.score(text).anger >= limit


DEFAULT = SentimentDetector()
