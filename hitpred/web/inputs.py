"""Request bodies -> validated release events, or field-level reasons why not.

Every input is validated as the stream validates it, in JSON mode
(:meth:`ReleaseEvent.model_validate_json`), and what is scored is JSON bytes, so an HTTP
prediction goes through exactly the stream's decode path. A refusal is an
:class:`InvalidInput` holding FastAPI-style ``detail`` items (``loc``, ``msg``, ``type``), with
no input echoed back beyond what pydantic's message says.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from hitpred.errors import HitPredError
from hitpred.json_keys import duplicate_key
from hitpred.schemas import DESCRIPTOR_FIELDS, ReleaseEvent
from hitpred.web.limits import RequestTooLarge
from hitpred.web.service import Upload

__all__ = [
    "FORM_FIELDS",
    "InvalidInput",
    "form_schema",
    "parse_batch",
    "parse_event",
    "parse_form",
    "reason",
]

Detail = dict[str, Any]

#: Form fields (besides the descriptors and the ``audio`` file) that a multipart request takes.
FORM_FIELDS: tuple[str, ...] = (
    "event_id",
    "track_id",
    "title",
    "artists",
    "release_date",
    "year",
    "genres",
    "lyrics",
    "audio_ref",
)
_CHUNK = 1 << 16


class InvalidInput(HitPredError):
    """A request that cannot become release events; ``detail`` says why, per field."""

    def __init__(self, detail: list[Detail]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, d['loc']))}: {d['msg']}" for d in detail))
        self.detail = detail


def reason(loc: Sequence[str | int], msg: str, kind: str) -> Detail:
    """One ``detail`` item."""
    return {"loc": list(loc), "msg": msg, "type": kind}


def _details(error: ValidationError, prefix: Sequence[str | int]) -> list[Detail]:
    return [
        reason([*prefix, *item["loc"]], item["msg"], item["type"])
        for item in error.errors(include_url=False, include_input=False, include_context=False)
    ]


def parse_event(body: bytes, prefix: Sequence[str | int] = ("body",)) -> tuple[str, bytes]:
    """One release event's JSON bytes -> (event_id, the same bytes), or InvalidInput."""
    if not body.strip():
        raise InvalidInput([reason(prefix, "the request body is empty", "missing")])
    try:
        event = ReleaseEvent.model_validate_json(body, strict=True)  # as decode_release
    except ValidationError as exc:
        raise InvalidInput(_details(exc, prefix)) from None
    repeated = duplicate_key(body)
    if repeated is not None:
        raise InvalidInput([reason(prefix, repeated, "duplicate_key")])
    return event.event_id, body


def parse_batch(body: bytes, max_items: int) -> list[tuple[str, bytes]]:
    """``{"events": [...]}`` -> one (event_id, JSON bytes) per event, or InvalidInput."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput([reason(["body"], f"Invalid JSON: {exc}", "json_invalid")]) from None
    repeated = duplicate_key(body)  # each event is re-encoded below: a repeat would vanish
    if repeated is not None:
        raise InvalidInput([reason(["body"], repeated, "duplicate_key")])
    if not isinstance(document, dict) or set(document) != {"events"}:
        raise InvalidInput(
            [reason(["body"], 'expected an object with one field, "events"', "model_type")]
        )
    events = document["events"]
    if not isinstance(events, list) or not events:
        raise InvalidInput(
            [reason(["body", "events"], "expected a non-empty list of release events", "list")]
        )
    if len(events) > max_items:
        raise InvalidInput(
            [
                reason(
                    ["body", "events"],
                    f"{len(events)} events, over the limit of {max_items} per request "
                    "(HITPRED_SERVE_MAX_BATCH_ITEMS)",
                    "too_long",
                )
            ]
        )
    parsed: list[tuple[str, bytes]] = []
    problems: list[Detail] = []
    seen: set[str] = set()
    for i, item in enumerate(events):
        try:
            event_id, raw = parse_event(orjson.dumps(item), ("body", "events", i))
        except InvalidInput as exc:
            problems.extend(exc.detail)
            continue
        if event_id in seen:
            problems.append(
                reason(["body", "events", i, "event_id"], "duplicate event_id in batch", "unique")
            )
        seen.add(event_id)
        parsed.append((event_id, raw))
    if problems:
        raise InvalidInput(problems)
    return parsed


async def parse_form(form: FormData, max_audio_bytes: int) -> tuple[str, bytes, Upload | None]:
    """A multipart "Hit or Flop?" form -> (event_id, event JSON bytes, the audio upload).

    ``artists`` and ``genres`` are separated by ``;`` (as in ``hitpred publish`` CSV files);
    ``year`` stands for ``release_date`` = 1 January of that year; ids are generated when
    absent; descriptors are numbers as text.
    """
    known = {*FORM_FIELDS, *DESCRIPTOR_FIELDS, "audio"}
    unknown = sorted(k for k in form if k not in known)
    if unknown:
        raise InvalidInput(
            [reason(["body", name], "Extra inputs are not permitted", "extra_forbidden")
             for name in unknown]
        )  # fmt: skip
    text = {k: v for k, v in form.items() if isinstance(v, str) and k != "audio"}
    event: dict[str, Any] = {
        "event_id": text.get("event_id") or f"web-{uuid.uuid4().hex[:16]}",
        "track_id": text.get("track_id") or f"web-{uuid.uuid4().hex[:16]}",
    }
    for name in ("title", "lyrics", "audio_ref"):
        if text.get(name):
            event[name] = text[name]
    for name in ("artists", "genres"):
        if name in text:
            event[name] = [part.strip() for part in text[name].split(";") if part.strip()]
    if text.get("release_date"):
        event["release_date"] = text["release_date"]
    elif text.get("year"):
        year = text["year"].strip()
        event["release_date"] = f"{year}-01-01" if year.isdigit() else year
    for name in DESCRIPTOR_FIELDS:
        value = text.get(name, "").strip()
        if value:
            event[name] = _number(value)
    upload = await _upload(form.get("audio"), max_audio_bytes)
    if upload is not None:
        if "audio_ref" in event:
            raise InvalidInput(
                [reason(["body", "audio"], "send an audio file or an audio_ref, not both", "value")]
            )
        event["audio_ref"] = upload.ref
    event_id, body = parse_event(orjson.dumps(event))
    return event_id, body, upload


def _number(value: str) -> Any:
    """A number when the text is one (the schema then checks its range), else the text."""
    try:
        number = orjson.loads(value)
    except orjson.JSONDecodeError:
        return value
    return number if isinstance(number, int | float) and not isinstance(number, bool) else value


async def _upload(item: str | UploadFile | None, max_bytes: int) -> Upload | None:
    """The uploaded file's bytes (capped while reading), or None when no file was chosen."""
    if not isinstance(item, UploadFile) or not item.filename:
        return None
    chunks: list[bytes] = []
    total = 0
    while chunk := await item.read(_CHUNK):
        total += len(chunk)
        if total > max_bytes:
            raise RequestTooLarge(max_bytes, "HITPRED_AUDIO_MAX_BYTES")
        chunks.append(chunk)
    await item.close()
    if not total:
        raise InvalidInput([reason(["body", "audio"], "the audio file is empty", "value")])
    return Upload(data=b"".join(chunks), filename=item.filename)


def form_schema() -> Mapping[str, Any]:
    """The OpenAPI schema of the multipart form."""
    properties: dict[str, Any] = {
        "event_id": {"type": "string", "description": "generated when absent"},
        "track_id": {"type": "string", "description": "generated when absent"},
        "title": {"type": "string"},
        "artists": {"type": "string", "description": "names separated by ';'"},
        "release_date": {"type": "string", "format": "date"},
        "year": {"type": "integer", "description": "instead of release_date: 1 January"},
        "genres": {"type": "string", "description": "names separated by ';'"},
        "lyrics": {"type": "string"},
        "audio": {
            "type": "string",
            "format": "binary",
            "description": "wav, flac, ogg or mp3; analysed in memory, never stored",
        },
    }
    for name in DESCRIPTOR_FIELDS:
        properties[name] = {"type": "number"}
    return {"type": "object", "properties": properties, "required": ["title", "artists"]}
