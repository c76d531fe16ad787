from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.dialogue.events import (
    ActionExecuted,
    ActiveLoop,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from bot.dialogue.slot_mapping import extract_slots, mapped_value
from bot.dialogue.tracker import Tracker
from bot.nlu.types import Entity
from bot.project.domain import Domain, Form, IntentSpec, MappingCondition, Slot, SlotMapping
from bot.project.loader import Project

MakeUser = Callable[..., UserUttered]
MakeEntity = Callable[..., Entity]


def tracker(domain: Domain, *events: Event) -> Tracker:
    start = [
        ActionExecuted(name="action_session_start"),
        SessionStarted(),
        ActionExecuted(name="action_listen"),
    ]
    return Tracker("t", domain.slots, [*start, *events])


def in_form(form: str, requested: str) -> list[Event]:
    return [
        ActionExecuted(name=form),
        ActiveLoop(name=form),
        SlotSet(key="requested_slot", value=requested),
        ActionExecuted(name="action_listen"),
    ]


def extracted(domain: Domain, *events: Event) -> dict[str, Any]:
    return extract_slots(tracker(domain, *events), domain)[0]


# ------------------------------------------------------------------ en_restaurant domain
def test_from_entity(en_project: Project, make_user: MakeUser, make_entity: MakeEntity) -> None:
    d = en_project.domain
    msg = make_user(
        "inform", entities=[make_entity("cuisine", "greek"), make_entity("seating", "bar")]
    )
    assert extracted(d, msg) == {"cuisine": "greek", "seating": "bar"}


def test_from_entity_intent_filter(
    en_project: Project, make_user: MakeUser, make_entity: MakeEntity
) -> None:
    d = en_project.domain
    number = [make_entity("number", 4)]
    assert extracted(d, make_user("book_table", entities=number))["party_size"] == 4
    assert "party_size" not in extracted(d, make_user("greet", entities=number))


def test_from_entity_not_intent_and_use_entities(
    en_project: Project, make_user: MakeUser, make_entity: MakeEntity
) -> None:
    d = en_project.domain
    # chitchat has use_entities: [] and cuisine's mapping says not_intent: chitchat
    got = extracted(
        d,
        make_user(
            "chitchat", entities=[make_entity("cuisine", "thai"), make_entity("seating", "bar")]
        ),
    )
    assert got == {}


def test_from_entity_with_role(
    en_project: Project, make_user: MakeUser, make_entity: MakeEntity
) -> None:
    d = en_project.domain
    msg = make_user(
        "inform",
        entities=[
            make_entity("area", "soho", role="current"),
            make_entity("area", "camden", role="target"),
        ],
    )
    assert extracted(d, msg)["target_area"] == "camden"
    only_current = make_user("inform", entities=[make_entity("area", "soho", role="current")])
    assert "target_area" not in extracted(d, only_current)


def test_from_entity_with_group(make_user: MakeUser, make_entity: MakeEntity) -> None:
    d = Domain(
        intents={"order": IntentSpec("order")},
        slots={
            "first_dish": Slot(
                "first_dish", mappings=[SlotMapping("from_entity", "dish", group="1")]
            ),
            "second_dish": Slot(
                "second_dish", mappings=[SlotMapping("from_entity", "dish", group="2")]
            ),
            "dishes": Slot("dishes", "list", mappings=[SlotMapping("from_entity", "dish")]),
        },
    )
    msg = make_user(
        "order",
        entities=[make_entity("dish", "pizza", group="1"), make_entity("dish", "salad", group="2")],
    )
    assert extracted(d, msg) == {
        "first_dish": "pizza",
        "second_dish": "salad",
        "dishes": ["pizza", "salad"],
    }


def test_from_trigger_intent(en_project: Project, make_user: MakeUser) -> None:
    d = en_project.domain
    assert extracted(d, make_user("book_table"))["booking_source"] == "chat"
    assert "booking_source" not in extracted(d, make_user("inform"))
    # not while a loop is already active
    during = extracted(d, *in_form("booking_form", "cuisine"), make_user("book_table"))
    assert "booking_source" not in during


def test_from_intent_with_form_conditions(en_project: Project, make_user: MakeUser) -> None:
    d = en_project.domain
    assert extracted(d, *in_form("booking_form", "vegetarian"), make_user("affirm")) == {
        "vegetarian": True
    }
    assert extracted(d, *in_form("booking_form", "vegetarian"), make_user("deny")) == {
        "vegetarian": False
    }
    # wrong requested slot, or no active loop: the condition does not hold
    assert "vegetarian" not in extracted(
        d, *in_form("booking_form", "cuisine"), make_user("affirm")
    )
    assert "vegetarian" not in extracted(d, make_user("affirm"))


def test_from_text_with_not_intent_and_conditions(en_project: Project, make_user: MakeUser) -> None:
    d = en_project.domain
    form = in_form("booking_form", "notes")
    wish = make_user("inform", text="a quiet table please")
    assert extracted(d, *form, wish) == {"notes": "a quiet table please"}
    # deny: from_text is excluded by not_intent, the from_intent mapping applies instead
    assert extracted(d, *form, make_user("deny", text="no"))["notes"] == "no special requests"
    assert "notes" not in extracted(d, *form, make_user("stop", text="stop it"))
    assert "notes" not in extracted(d, wish)  # outside the form


def test_form_ignored_intents(
    en_project: Project, make_user: MakeUser, make_entity: MakeEntity
) -> None:
    d = en_project.domain
    msg = make_user("chitchat", entities=[make_entity("seating", "bar")])
    assert "seating" not in extracted(d, *in_form("booking_form", "seating"), msg)
    assert "seating" not in extracted(d, msg)  # chitchat's use_entities: [] anyway


def test_form_ignored_intents_apply_only_to_the_forms_slots(make_user: MakeUser) -> None:
    d = Domain(
        intents={"chitchat": IntentSpec("chitchat")},
        slots={
            "mood": Slot("mood", mappings=[SlotMapping("from_text")]),
            "topic": Slot("topic", mappings=[SlotMapping("from_text")]),
        },
        forms={"f": Form("f", ["mood"], ignored_intents=["chitchat"])},
    )
    assert extracted(d, *in_form("f", "mood"), make_user("chitchat", text="天气不错")) == {
        "topic": "天气不错"
    }


def test_custom_mappings_name_actions_to_run(make_user: MakeUser) -> None:
    d = Domain(
        slots={
            "a": Slot("a", mappings=[SlotMapping("custom", action="action_fill_a")]),
            "b": Slot("b", mappings=[SlotMapping("custom", action="action_fill_a")]),
            "c": Slot("c", mappings=[SlotMapping("custom")]),  # filled by validate_<form>
            "d": Slot(
                "d",
                mappings=[
                    SlotMapping("custom", action="action_d", conditions=[MappingCondition("f")])
                ],
            ),
        }
    )
    values, actions = extract_slots(tracker(d, make_user("greet")), d)
    assert values == {} and actions == ["action_fill_a"]


def test_first_matching_mapping_wins(make_user: MakeUser, make_entity: MakeEntity) -> None:
    d = Domain(
        slots={
            "city": Slot(
                "city",
                mappings=[SlotMapping("from_entity", "city"), SlotMapping("from_text")],
            )
        }
    )
    assert (
        extracted(d, make_user("inform", entities=[make_entity("city", "上海")], text="去上海"))[
            "city"
        ]
        == "上海"
    )
    assert extracted(d, make_user("inform", text="随便"))["city"] == "随便"


def test_retrieval_intents_match_their_base(make_user: MakeUser) -> None:
    mapping = SlotMapping("from_intent", intent=["faq"], value="asked")
    d = Domain(slots={"asked": Slot("asked", mappings=[mapping])})
    assert extracted(d, make_user("faq/payment")) == {"asked": "asked"}
    t = tracker(d, make_user("greet"))
    assert mapped_value(mapping, t, d, "text") == (False, None)


def test_no_message_no_values(en_project: Project) -> None:
    assert extract_slots(tracker(en_project.domain), en_project.domain) == ({}, [])


def test_zh_entities_fill_categorical_slots(
    zh_project: Project, make_user: MakeUser, make_entity: MakeEntity
) -> None:
    msg = make_user(
        "order_drink",
        entities=[
            make_entity("drink", "柠檬茶"),
            make_entity("size", "大杯"),
            make_entity("sweetness", "全糖"),
        ],
    )
    assert extracted(zh_project.domain, msg) == {
        "drink": "柠檬茶",
        "size": "大杯",
        "sweetness": "全糖",
    }
