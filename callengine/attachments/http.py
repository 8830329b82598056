"""The attachments API: `POST /api/v1/assignments/{id}/attachments` (multipart, field `file`,
streamed: the console's 1 MB body limit does not apply, the service's own cap does, so a
session sends its CSRF token in the X-CSRF-Token header), the list of an assignment's, and
each file and thumbnail, served with the sniffed type, never sniffed again by the browser."""
from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import quote

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import BadHttpMessage

from callengine.attachments.model import Attachment, AttachmentError, BadForm, TooLarge
from callengine.attachments.service import READERS, UPLOADERS, Attachments
from callengine.dispatch.http import actor
from callengine.web.errors import HttpError
from callengine.web.routes import Route

HTTP_STATUS = {"not_found": 404, "forbidden": 403, "too_large": 413, "bad_filename": 400, "unsupported_type": 415,
               "bad_file": 400, "bad_form": 400}
CHUNK = 64 * 1024
MAX_PARTS = 8                      # the file and a few form fields at most
MULTIPART_OVERHEAD = 64 * 1024
T = TypeVar("T")


async def answer(work: Awaitable[T]) -> T:
    try:
        return await work
    except AttachmentError as exc:
        raise HttpError(HTTP_STATUS.get(exc.code, 400), exc.code, str(exc)) from None


def number(request: web.Request, key: str, what: str) -> int:
    raw = request.match_info[key]
    if not raw.isdigit() or len(raw) > 12:
        raise HttpError(404, "not_found", f"no {what} {raw!r}")
    return int(raw)


async def _chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(CHUNK):
        yield chunk


def disposition(attachment: Attachment, thumbnail: bool) -> str:
    """inline for images (shown in the page), attachment for PDFs; the name ASCII-safe and in
    RFC 5987 form."""
    name = attachment.original_name if not thumbnail else f"thumb-{attachment.original_name}.jpg"
    plain = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in name)
    how = "attachment" if attachment.content_type == "application/pdf" and not thumbnail else "inline"
    return f"{how}; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"


@dataclass
class AttachmentApi:
    attachments: Attachments

    async def upload(self, request: web.Request) -> web.Response:
        assignment_id = number(request, "id", "assignment")
        if request.content_type != "multipart/form-data":
            raise HttpError(415, "unsupported_media_type", "send the file as multipart/form-data, field 'file'")
        limit, who = self.attachments.limit, actor(request)
        if (request.content_length or 0) > limit + MULTIPART_OVERHEAD:
            await answer(self.attachments.refuse(assignment_id, who, TooLarge(
                f"the file is larger than {limit // (1024 * 1024)} MB")))
        reader = await request.multipart()
        for _ in range(MAX_PARTS):
            try:
                part = await reader.next()
            except (BadHttpMessage, ValueError) as exc:    # e.g. a control character in a part's header
                await answer(self.attachments.refuse(assignment_id, who, BadForm(
                    f"the form is malformed (a control character in the file name?): {exc.__class__.__name__}")))
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                raise HttpError(400, "bad_form", "nested multipart is not accepted")
            if part.name == "file":
                made = await answer(self.attachments.upload(assignment_id, part.filename, _chunks(part), who))
                return web.json_response(made.to_json(), status=201)
            await part.release()
        raise HttpError(400, "no_file", "the form has no field 'file'")

    async def listing(self, request: web.Request) -> web.Response:
        found = await answer(self.attachments.of_assignment(number(request, "id", "assignment"), actor(request)))
        return web.json_response({"attachments": [a.to_json() for a in found]})

    async def file(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, thumbnail=False)

    async def thumbnail(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, thumbnail=True)

    async def _serve(self, request: web.Request, thumbnail: bool) -> web.StreamResponse:
        found, path = await answer(self.attachments.file(number(request, "id", "attachment"), actor(request),
                                                         thumbnail))
        if not path.is_file():
            raise HttpError(404, "not_found", f"the file of attachment {found.id} is missing")
        return web.FileResponse(path, headers={
            "Content-Type": "image/jpeg" if thumbnail else found.content_type,
            "Content-Disposition": disposition(found, thumbnail), "X-Content-Type-Options": "nosniff"})

    def routes(self) -> list[Route]:
        return [
            Route("POST", "/api/v1/assignments/{id}/attachments", self.upload, UPLOADERS, "attachments.upload",
                  "documentation for the assignment (multipart/form-data, field 'file'): JPEG, PNG, WebP or PDF "
                  "told by its bytes, at most 10 MB; EXIF GPS read, thumbnail made, SHA-256 kept; a responder: "
                  "their agency's only", audit="service", tags=("dispatch",)),
            Route("GET", "/api/v1/assignments/{id}/attachments", self.listing, READERS, "attachments.list",
                  "the assignment's attachments, oldest first", tags=("dispatch",)),
            Route("GET", "/api/v1/attachments/{id}", self.file, READERS, "attachments.file",
                  "the attachment's file, with its sniffed type", tags=("dispatch",)),
            Route("GET", "/api/v1/attachments/{id}/thumbnail", self.thumbnail, READERS, "attachments.thumbnail",
                  "an image attachment's thumbnail (JPEG, at most 320 px)", tags=("dispatch",)),
        ]
