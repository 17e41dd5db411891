"""Money on the API: one documented type for every field that holds an amount in 万元.

A decimal string ("1234.50"): non-negative, at most 10 whole digits and 4 decimals, written plainly (no sign, no
exponent, no spaces). A JSON number is refused: a client's float would lose cents before the platform saw them, and
one shape is easier to code against than "a number or a string". Answers carry the same strings (pydantic writes a
`Decimal` as its string), so a client reads back exactly what it sent. Events keep their own type
(`shared.catalogue.intake.Amount`), already stored as decimal strings.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated

from pydantic import BeforeValidator, Field, WithJsonSchema

MONEY_PATTERN = r"^[0-9]{1,10}(\.[0-9]{1,4})?$"
MONEY_DESCRIPTION = '金额(万元),十进制字符串,如 "1234.50":非负,整数部分至多 10 位,小数至多 4 位'
_MONEY = re.compile(MONEY_PATTERN)


def _decimal_string(value: object) -> object:
    if isinstance(value, Decimal):  # built in Python (seeds, tests, the domain), not read from JSON
        return value
    if not isinstance(value, str):
        raise ValueError('金额应为十进制字符串(万元),如 "1234.50",不接受数字')
    if _MONEY.fullmatch(value) is None:
        raise ValueError('金额格式不正确:应为非负十进制字符串(万元),整数部分至多 10 位、小数至多 4 位,如 "1234.50"')
    return Decimal(value)


Money = Annotated[
    Decimal,
    BeforeValidator(_decimal_string),
    Field(ge=0, max_digits=14, decimal_places=4),
    WithJsonSchema({"type": "string", "pattern": MONEY_PATTERN, "description": MONEY_DESCRIPTION,
                    "examples": ["1234.50"]}),
]  # fmt: skip
