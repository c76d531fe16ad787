"""Knowledge-base API (`/api/kb/...`): editors create, change, import and export FAQ entries;
an edit answers customers as soon as the request returns (in this worker; other workers pick
it up within `knowledge_base.sync_seconds`). Reads are open to supervisors and agents too."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import date
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from bot.kb.errors import IssueLog, KBImportError
from bot.kb.io import build_entry, load_entries, save_entries
from bot.kb.io_yaml import entry_to_mapping, raw_from_mapping
from bot.kb.service import KnowledgeBase
from bot.kb.types import FAQEntry
from bot.server.auth import Principal, require_roles
from bot.server.errors import ApiError
from bot.server.rasa_api import AUTH, JSON_BODY, State
from bot.server.schemas import error_responses
from bot.server.state import ServerState

router = APIRouter(prefix="/api/kb", tags=["knowledge base"])
EntryId = Annotated[str, Path(min_length=1, max_length=128, description="FAQ entry id.")]
Reader = Annotated[Principal, Depends(require_roles("kb_read"))]
Editor = Annotated[Principal, Depends(require_roles("kb_write"))]
FORMATS = {"yaml": ".yml", "yml": ".yml", "csv": ".csv", "xlsx": ".xlsx", "jsonl": ".jsonl"}
MEDIA = {
    ".yml": "application/yaml",
    ".csv": "text/csv; charset=utf-8",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".jsonl": "application/jsonl",
}


# ------------------------------------------------------------------ schemas
class ButtonModel(BaseModel):
    title: str
    payload: str


class AnswerModel(BaseModel):
    text: str = Field(description="答案正文 / the answer shown to the customer")
    buttons: list[ButtonModel] = Field(default_factory=list)
    link: str | None = None
    link_title: str | None = None
    image: str | None = None


class EntryModel(BaseModel):
    """An FAQ entry, as in the YAML file (`answer` may also be a plain string)."""

    id: str | None = Field(None, description="Taken from the URL on PUT.")
    question: str = Field(description="标准问 / the standard question")
    similar: list[str] = Field(default_factory=list, description="相似问 / similar questions")
    answer: AnswerModel | str
    voice_answer: str | None = None
    category: str | list[str] | None = Field(None, description='e.g. "宽带/报修"')
    tags: list[str] = Field(default_factory=list)
    valid_from: date | None = None
    valid_to: date | None = None
    channels: list[str] = Field(default_factory=list, description="empty: every channel")
    enabled: bool = True
    updated_at: float | None = Field(None, description="Set by the server.")


class EntryList(BaseModel):
    total: int
    entries: list[EntryModel]


class HitModel(BaseModel):
    id: str
    score: float = Field(description="calibrated: about P(this entry answers the query)")
    question: str = Field(description="the indexed question that matched best")
    standard_question: str


class SearchResult(BaseModel):
    query: str
    decision: str = Field(description="answer | clarify | pass at the configured thresholds")
    hits: list[HitModel]


class ImportResult(BaseModel):
    imported: int
    revision: int


class FeedbackModel(BaseModel):
    entry_id: str | None
    conversation_id: str
    query: str
    kind: str
    created_at: float


# ------------------------------------------------------------------ helpers
def knowledge(state: ServerState) -> KnowledgeBase:
    kb = state.knowledge
    if kb is None:
        raise ApiError(
            404,
            "kb_disabled",
            "本项目没有启用知识库（缺少 kb/ 目录或 knowledge_base.enabled 为 false）。",
            "this project has no knowledge base (no kb/ folder, or knowledge_base.enabled false)",
        )
    return kb


def _out(entry: FAQEntry) -> dict[str, Any]:
    mapping = entry_to_mapping(entry)
    answer = mapping.get("answer")
    if isinstance(answer, str):
        mapping["answer"] = {"text": answer}
    mapping["updated_at"] = entry.updated_at
    return mapping


def parse_entry(body: dict[str, Any], entry_id: str) -> FAQEntry:
    """The YAML loader's validation applied to one API body; 422 listing every problem."""
    body = {k: v for k, v in body.items() if v not in (None, [], "") and k != "updated_at"}
    body["id"] = entry_id
    if isinstance(body.get("valid_from"), date):
        body["valid_from"] = body["valid_from"].isoformat()
    if isinstance(body.get("valid_to"), date):
        body["valid_to"] = body["valid_to"].isoformat()
    log = IssueLog("request")
    raw = raw_from_mapping(body, 0, log)
    entry = build_entry(raw, log) if raw is not None else None
    if log.issues or entry is None:
        raise _invalid(KBImportError(log.issues))
    return entry


def _invalid(exc: KBImportError) -> ApiError:
    zh = "；".join(i.zh + (f"（{i.column}，第 {i.row} 行）" if i.row else "") for i in exc.issues)
    en = "; ".join(f"row {i.row} [{i.column}]: {i.en}" if i.row else i.en for i in exc.issues)
    return ApiError(422, "invalid_entry", zh or "条目无效。", en or "invalid entry")


def _duplicate_question(kb: KnowledgeBase, entry: FAQEntry) -> None:
    texts = {q.strip() for q in entry.questions()}
    for other in kb.entries():
        if other.id != entry.id and texts & {q.strip() for q in other.questions()}:
            clash = sorted(texts & {q.strip() for q in other.questions()})[0]
            raise ApiError(
                409,
                "duplicate_question",
                f"问题“{clash}”已属于条目 {other.id}。",
                f"question {clash!r} already belongs to entry {other.id!r}",
            )


def _suffix(format: str) -> str:
    suffix = FORMATS.get(format.lower())
    if suffix is None:
        raise ApiError(400, "bad_format", "不支持的文件格式。", f"unsupported format {format!r}")
    return suffix


def _not_found(entry_id: str) -> ApiError:
    return ApiError(404, "entry_not_found", "找不到该知识条目。", f"no entry {entry_id!r}")


# ------------------------------------------------------------------ routes
@router.get(
    "/entries",
    response_model=EntryList,
    responses=error_responses(*AUTH, 404),
    summary="List entries (filter by text in questions, category prefix)",
)
async def list_entries(
    state: State,
    _: Reader,
    q: Annotated[str | None, Query(max_length=200)] = None,
    category: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    entries = knowledge(state).entries()
    if q:
        entries = [e for e in entries if any(q in text for text in e.questions())]
    if category:
        prefix = tuple(p for p in category.split("/") if p)
        entries = [e for e in entries if e.category[: len(prefix)] == prefix]
    return {"total": len(entries), "entries": [_out(e) for e in entries[offset : offset + limit]]}


@router.get(
    "/entries/{entry_id}",
    response_model=EntryModel,
    responses=error_responses(*AUTH, 404),
    summary="One entry",
)
async def get_entry(entry_id: EntryId, state: State, _: Reader) -> dict[str, Any]:
    entry = knowledge(state).entry(entry_id)
    if entry is None:
        raise _not_found(entry_id)
    return _out(entry)


@router.put(
    "/entries/{entry_id}",
    response_model=EntryModel,
    responses=error_responses(*AUTH, 404, 409, 413, 415, 422),
    dependencies=JSON_BODY,
    summary="Create or replace an entry; live for the next message",
)
async def put_entry(entry_id: EntryId, body: EntryModel, state: State, _: Editor) -> dict[str, Any]:
    kb = knowledge(state)
    entry = parse_entry(body.model_dump(mode="python"), entry_id)
    _duplicate_question(kb, entry)
    await asyncio.to_thread(kb.put, entry)
    stored = kb.entry(entry_id)
    return _out(stored or entry)


@router.delete(
    "/entries/{entry_id}",
    status_code=204,
    response_class=Response,
    responses=error_responses(*AUTH, 404),
    summary="Delete an entry; no longer answered from the next message",
)
async def delete_entry(entry_id: EntryId, state: State, _: Editor) -> Response:
    if not await asyncio.to_thread(knowledge(state).remove, entry_id):
        raise _not_found(entry_id)
    return Response(status_code=204)


@router.get(
    "/search",
    response_model=SearchResult,
    responses=error_responses(*AUTH, 404),
    summary="What the bot would answer: best entries with calibrated scores",
)
async def search(
    state: State,
    _: Reader,
    q: Annotated[str, Query(min_length=1, max_length=2000)],
    channel: Annotated[str | None, Query(max_length=64)] = None,
    k: Annotated[int, Query(ge=1, le=20)] = 5,
) -> dict[str, Any]:
    kb = knowledge(state)
    hits = kb.search(q, channel, k)
    decision = kb.decide(q, channel).outcome
    out = []
    for hit in hits:
        entry = kb.entry(hit.entry_id)
        standard = entry.question if entry else hit.question
        out.append({"id": hit.entry_id, "score": round(hit.score, 4), "question": hit.question,
                    "standard_question": standard})  # fmt: skip
    return {"query": q, "decision": decision, "hits": out}


@router.post(
    "/import",
    response_model=ImportResult,
    responses=error_responses(*AUTH, 400, 404, 413, 422),
    summary="Replace every entry with a file's (body = the file; all or nothing)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                m: {"schema": {"type": "string", "format": "binary"}} for m in MEDIA.values()
            },
        }
    },
)
async def import_entries(
    request: Request,
    state: State,
    _: Editor,
    format: Annotated[str, Query(description="yaml | csv | xlsx | jsonl")] = "yaml",
) -> dict[str, Any]:
    kb = knowledge(state)
    suffix = _suffix(format)
    data = await request.body()
    try:
        entries = await asyncio.to_thread(_load_bytes, data, suffix)
    except KBImportError as exc:
        raise _invalid(exc) from exc
    revision = await asyncio.to_thread(kb.replace_all, entries)
    return {"imported": len(entries), "revision": revision}


@router.get(
    "/export",
    response_class=Response,
    responses={
        **error_responses(*AUTH, 400, 404),
        200: {"content": {m: {} for m in MEDIA.values()}},
    },
    summary="Every entry as a YAML, CSV, Excel or JSONL file",
)
async def export_entries(
    state: State,
    _: Reader,
    format: Annotated[str, Query(description="yaml | csv | xlsx | jsonl")] = "yaml",
) -> Response:
    kb = knowledge(state)
    suffix = _suffix(format)
    data = await asyncio.to_thread(_dump_bytes, kb.entries(), suffix)
    headers = {"Content-Disposition": f'attachment; filename="kb{suffix}"'}
    return Response(data, media_type=MEDIA[suffix], headers=headers)


@router.get(
    "/feedback",
    response_model=list[FeedbackModel],
    responses=error_responses(*AUTH, 404),
    summary='Customers\' "没有解决" and thumbs up/down on answers, newest first',
)
async def feedback(
    state: State,
    _: Reader,
    entry_id: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    rows = await asyncio.to_thread(knowledge(state).store.feedback, entry_id, limit)
    return [
        {"entry_id": r.entry_id, "conversation_id": r.conversation_id, "query": r.query,
         "kind": r.kind, "created_at": r.created_at}
        for r in rows
    ]  # fmt: skip


def _load_bytes(data: bytes, suffix: str) -> list[FAQEntry]:
    with tempfile.TemporaryDirectory() as tmp:
        path = FilePath(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        return load_entries(path)


def _dump_bytes(entries: list[FAQEntry], suffix: str) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = FilePath(tmp) / f"kb{suffix}"
        save_entries(entries, path)
        return path.read_bytes()
