"""The API's version 1: the blueprint under /api/v1/ and the registry its
operations join (survey/api/registry.py)."""
from __future__ import annotations

from survey.api.registry import Api

api = Api(
    "api", "/api/v1",
    title="评议 Pingyi API",
    version="1",
    description=(
        "评议平台的 JSON 接口：读取评议活动、回收情况、评议结果与后续处理，导入名单与客观考核得分。\n\n"
        "**认证**：每个请求带 `Authorization: Bearer <API 密钥>`；密钥由管理员在服务器上签发"
        "（`flask --app survey api-key create --user 用户名`），代表一个工作人员账号，具有该账号的角色与范围"
        "（单位联络员只见本单位）。不接受 Cookie。\n\n"
        "**分页**：列表接受 `?limit=`（1–200，默认 50）与 `?cursor=`，答复为 "
        "`{\"items\": [...], \"limit\": n, \"next_cursor\": \"…\" | null}`；把 `next_cursor` 原样传回即得下一页。\n\n"
        "**写入**（POST）：请求体为 JSON（`Content-Type: application/json`），全部成功或全部不写；"
        "出错时逐条指出位置（`body.evaluators[3].phone`）。\n\n"
        "**错误**：一律为 pingyi-errors/1："
        "`{\"format\": \"pingyi-errors/1\", \"code\": \"not_found\", "
        "\"errors\": [{\"path\": \"$\", \"reason\": \"…\", \"reason_en\": \"…\"}]}`。\n\n"
        "**Webhooks**：评议开始、截止、定稿、公示，单位申诉，整改、督查案件、群众意见逾期时，向管理员登记的地址推送 "
        "HMAC-SHA256 签名的通知（`/admin/webhooks`）。\n\n"
        "See docs/api.md in the source tree for the whole guide."),
)
