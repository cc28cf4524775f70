"""The API's version 1: the blueprint under /api/v1/ and the registry its
operations join (survey/api/registry.py)."""
from __future__ import annotations

from survey.api.registry import Api

api = Api(
    "api", "/api/v1",
    title="评议 Pingyi API",
    version="1",
    description=(
        "评议平台的 JSON 接口（只读的第一批资源）。\n\n"
        "**认证**：每个请求带 `Authorization: Bearer <API 密钥>`；密钥由管理员在服务器上签发"
        "（`flask --app survey api-key create --user 用户名`），代表一个工作人员账号，具有该账号的角色与范围"
        "（单位联络员只见本单位）。不接受 Cookie。\n\n"
        "**分页**：列表接受 `?limit=`（1–200，默认 50）与 `?cursor=`，答复为 "
        "`{\"items\": [...], \"limit\": n, \"next_cursor\": \"…\" | null}`；把 `next_cursor` 原样传回即得下一页。\n\n"
        "**错误**：一律为 pingyi-errors/1："
        "`{\"format\": \"pingyi-errors/1\", \"code\": \"not_found\", "
        "\"errors\": [{\"path\": \"$\", \"reason\": \"…\", \"reason_en\": \"…\"}]}`。\n\n"
        "See docs/api.md in the source tree for the whole guide."),
)
