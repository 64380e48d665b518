"""JSON Schemas a server's grammar can enforce, so that an LLM's answer is inside the space by construction.

Categorical and ordinal parameters become enums and integers keep their bounds. A float's bounds
are not enforced by llama.cpp's grammar (nor by most others), so floats are offered as a grid of
values, geometric on a log scale: the grammar then allows only in-range values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agenthpo.space import FloatParam, IntParam, Param, SearchSpace

FLOAT_GRID_POINTS = 25
RATIONALE_CHARS = 200


def _round(value: float, digits: int = 4) -> float:
    return float(f"{value:.{digits}g}")


def float_grid(param: FloatParam, points: int = FLOAT_GRID_POINTS) -> list[float]:
    if param.low == param.high:
        return [param.low]
    raw = np.geomspace(param.low, param.high, points) if param.log else np.linspace(param.low, param.high, points)
    values = sorted({min(max(_round(float(v)), param.low), param.high) for v in raw})
    return values


def param_schema(param: Param) -> dict[str, Any]:
    if isinstance(param, FloatParam):
        return {"enum": float_grid(param)}
    if isinstance(param, IntParam):
        return {"type": "integer", "minimum": param.low, "maximum": param.high}
    return param.json_schema()


def config_item_schema(space: SearchSpace) -> dict[str, Any]:
    # The rationale comes first so the model states its reasoning before it picks the values.
    properties: dict[str, Any] = {"rationale": {"type": "string", "maxLength": RATIONALE_CHARS}}
    properties.update({p.name: param_schema(p) for p in space})
    return {"type": "object", "properties": properties, "required": ["rationale", *space.names],
            "additionalProperties": False}


def configs_schema(space: SearchSpace, n: int) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"configs": {"type": "array", "items": config_item_schema(space), "minItems": n,
                                   "maxItems": n}},
        "required": ["configs"],
        "additionalProperties": False,
    }
