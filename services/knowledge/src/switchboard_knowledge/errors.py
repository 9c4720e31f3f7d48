"""The domain's errors; the bus and HTTP edges map them to protocol answers."""

from __future__ import annotations

from switchboard_common.knowledge import KnowledgeErrorCode


class KnowledgeError(Exception):
    code = KnowledgeErrorCode.INTERNAL
    http_status = 500


class BadRequest(KnowledgeError):
    code = KnowledgeErrorCode.BAD_REQUEST
    http_status = 400


class UnknownBusiness(KnowledgeError):
    code = KnowledgeErrorCode.UNKNOWN_BUSINESS
    http_status = 404


class DocumentNotFound(KnowledgeError):
    code = KnowledgeErrorCode.NOT_FOUND
    http_status = 404


class Unavailable(KnowledgeError):
    code = KnowledgeErrorCode.BACKEND_UNAVAILABLE
    http_status = 503
