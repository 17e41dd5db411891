"""Why a field was refused, in Simplified Chinese: pydantic's validation errors as the platform's users read them.

The field keeps its name (clients match on it); the reason is said in the interface's language. Pydantic's error
`type` is stable across its versions, its English `msg` is not: the reason is made from the type and its context.
An error type not listed here (rare ones) still gets a Chinese reason, with pydantic's type named for developers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

REASONS: Mapping[str, str] = {
    "missing": "必填",
    "extra_forbidden": "不允许的字段",
    "json_invalid": "不是有效的 JSON",
    "json_type": "不是有效的 JSON",
    "model_attributes_type": "应为对象",
    "model_type": "应为对象",
    "dict_type": "应为对象",
    "list_type": "应为数组",
    "string_type": "应为字符串",
    "string_too_short": "长度不能少于 {min_length} 个字符",
    "string_too_long": "长度不能超过 {max_length} 个字符",
    "string_pattern_mismatch": "格式不正确(应符合 {pattern})",
    "too_short": "至少 {min_length} 项",
    "too_long": "最多 {max_length} 项",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "int_from_float": "应为整数",
    "bool_type": "应为 true 或 false",
    "bool_parsing": "应为 true 或 false",
    "float_type": "应为数字",
    "float_parsing": "应为数字",
    "decimal_type": "应为数字(十进制字符串)",
    "decimal_parsing": "应为数字(十进制字符串)",
    "decimal_max_digits": "数字总位数不能超过 {max_digits} 位",
    "decimal_max_places": "小数位数不能超过 {decimal_places} 位",
    "decimal_whole_digits": "整数部分位数不能超过 {whole_digits} 位",
    "finite_number": "应为有限数值",
    "greater_than": "应大于 {gt}",
    "greater_than_equal": "应大于或等于 {ge}",
    "less_than": "应小于 {lt}",
    "less_than_equal": "应小于或等于 {le}",
    "multiple_of": "应为 {multiple_of} 的整数倍",
    "date_type": "应为日期(YYYY-MM-DD)",
    "date_parsing": "应为日期(YYYY-MM-DD)",
    "date_from_datetime_parsing": "应为日期(YYYY-MM-DD)",
    "date_from_datetime_inexact": "应为日期(YYYY-MM-DD),不带时间",
    "datetime_type": "应为带时区的时间(ISO 8601)",
    "datetime_parsing": "应为带时区的时间(ISO 8601)",
    "datetime_from_date_parsing": "应为带时区的时间(ISO 8601)",
    "timezone_aware": "应带时区",
    "uuid_type": "应为 UUID",
    "uuid_parsing": "应为 UUID",
    "enum": "应为以下之一:{expected}",
    "literal_error": "应为以下之一:{expected}",
    "url_parsing": "应为有效的网址",
    "url_scheme": "网址协议应为 {expected_schemes}",
    "union_tag_invalid": "类型标记应为以下之一:{expected_tags}",
    "union_tag_not_found": "缺少类型标记 {discriminator}",
}


def chinese_reason(error: Mapping[str, Any]) -> str:
    """One pydantic error (an item of `ValidationError.errors()`) as a reason in Chinese."""
    kind = str(error.get("type", ""))
    context = error.get("ctx") or {}
    if kind == "value_error":
        # A validator's own ValueError: the platform's validators write their messages in Chinese.
        return str(context.get("error", error.get("msg", ""))).removeprefix("Value error, ")
    template = REASONS.get(kind)
    if template is None:
        return f"取值无效({kind})"
    try:
        return template.format(**{k: _plain(v) for k, v in context.items()})
    except (KeyError, IndexError):
        return template.split("{")[0].rstrip("(:, ") or f"取值无效({kind})"


def _plain(value: Any) -> str:
    """pydantic quotes expected values ("'a', 'b' or 'c'"): said plainly, separated the Chinese way."""
    return str(value).replace("'", "").replace(" or ", "、").replace(", ", "、")
