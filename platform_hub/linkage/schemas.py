from __future__ import annotations

from pydantic import BaseModel

from platform_hub.protocol.specs import InterfaceSpec, Pattern


class InterfaceSummary(BaseModel):
    id: str
    name: str
    pattern: Pattern
    provider: str
    consumers: tuple[str, ...]
    category: str
    request_type: str
    response_type: str

    @classmethod
    def of(cls, spec: InterfaceSpec) -> InterfaceSummary:
        return cls(
            id=spec.id,
            name=spec.name,
            pattern=spec.pattern,
            provider=spec.provider,
            consumers=spec.consumers,
            category=spec.category,
            request_type=spec.request_type,
            response_type=spec.response_type,
        )
