"""What the customer is told during a handoff (客服口吻). A project overrides any of them with
a domain response of the same name (e.g. `utter_handoff_queued`); `{position}`, `{eta}`,
`{group}`, `{hours}`, `{ticket_no}`, `{agent}` are filled in."""

from __future__ import annotations

from bot.dialogue.events import BotUttered

TEXTS: dict[str, str] = {
    "utter_handoff_queued": (
        "已为您转接人工客服（{group}），您前面还有 {ahead} 位客户，预计等待约 {eta}。"
        "排队期间您可以继续向小知提问；如不再需要，回复“不用了”即可取消排队。"
    ),
    "utter_handoff_first": "已为您转接人工客服（{group}），马上为您接通，请稍候。",
    "utter_handoff_position": "您目前排在第 {position} 位，预计还需等待约 {eta}，感谢您的耐心。",
    "utter_handoff_already_queued": "您已在人工客服排队中，目前排在第 {position} 位，预计还需约 {eta}，请稍候。",
    "utter_handoff_connecting": "客服正在接入，请稍候片刻。",
    "utter_handoff_accepted": "您好，我是人工客服{agent}，很高兴为您服务，请问有什么可以帮您？",
    "utter_handoff_transferred": "正在为您转接{group}的客服同事，请稍候。",
    "utter_handoff_requeued": "非常抱歉，刚才的客服连接中断了，正在为您重新转接，请稍候。",
    "utter_handoff_cancelled": "好的，已为您取消人工排队。小知继续为您服务，还有什么可以帮您？",
    "utter_handoff_ended": "本次人工服务已结束，感谢您的耐心。小知会继续为您服务，有需要随时叫我。",
    "utter_handoff_idle_ended": "由于长时间没有收到您的消息，本次人工服务已结束。如还有问题，随时可以再说“转人工”。",
    "utter_handoff_survey": "请您为本次人工服务打个分吧（1–5 分，5 分为非常满意）：",
    "utter_handoff_survey_thanks": "感谢您的评价，我们会继续努力！还有什么可以帮您？",
    "utter_handoff_ticket_closed": (
        "非常抱歉，现在不在人工客服服务时间（{hours}）。已为您登记留言工单，工单号 {ticket_no}，"
        "您的问题和聊天记录已一并转交，我们会在服务时间尽快与您联系。"
    ),
    "utter_handoff_ticket_busy": (
        "非常抱歉，目前人工客服暂时无人接听。已为您登记留言工单，工单号 {ticket_no}，"
        "您的问题和聊天记录已一并转交，客服会尽快与您联系。"
    ),
    "utter_handoff_phone_failed": (
        "非常抱歉，人工客服暂时无法接通。已为您登记留言工单，工单号 {ticket_no}，"
        "客服会尽快给您回电。小知继续为您服务，还有什么可以帮您？"
    ),
    "utter_handoff_ticket_timeout": (
        "非常抱歉让您久等了，当前人工客服繁忙。已为您登记留言工单，工单号 {ticket_no}，"
        "客服会尽快回电或回复您，给您带来不便敬请谅解。"
    ),
}

SURVEY_CHOICES = (
    ("5 非常满意", 5),
    ("4 满意", 4),
    ("3 一般", 3),
    ("2 不满意", 2),
    ("1 非常不满意", 1),
)


def eta_text(seconds: float) -> str:
    """Spoken-style waiting time: "1 分钟", "3 分钟", "半小时以上"."""
    minutes = max(1, round(seconds / 60))
    return "半小时以上" if minutes > 30 else f"{minutes} 分钟"


def survey_prompt(text: str) -> BotUttered:
    """The 1–5 survey after an agent ended the chat, with one button per score."""
    buttons = [
        {"title": title, "payload": f'/handoff_survey{{"score": {score}}}'}
        for title, score in SURVEY_CHOICES
    ]
    return BotUttered(text=text, data={"buttons": buttons}, metadata={"handoff_notice": "survey"})
