"""The event catalogue: stable registered names, schema versions and upcasters.

Names are chosen here, never derived from Python import paths, so stored data does not depend on where a class
lives. An old event always replays under new code: an upcaster lifts payload version n to n+1.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

Payload = BaseModel
P = TypeVar("P", bound=type[BaseModel])
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class UnknownEventType(LookupError):
    pass


@dataclass
class EventType:
    name: str
    aggregate_type: str
    schema_version: int
    model: type[BaseModel]
    upcasters: dict[int, Upcaster] = field(default_factory=dict)  # from version -> payload at version + 1
    # Further aggregate types the event may be appended to: one event shape that every service records on an
    # aggregate type of its own (AuditorAccessRecorded, shared/catalogue/access.py), so that least privilege holds.
    also_on: frozenset[str] = frozenset()

    def belongs_to(self, aggregate_type: str) -> bool:
        return aggregate_type == self.aggregate_type or aggregate_type in self.also_on


class Catalogue:
    def __init__(self) -> None:
        self._by_name: dict[str, EventType] = {}
        self._by_model: dict[type[BaseModel], EventType] = {}

    def event(self, name: str, *, aggregate: str, version: int = 1, also_on: Collection[str] = ()) -> Callable[[P], P]:
        def register(model: P) -> P:
            if name in self._by_name:
                raise ValueError(f"event name {name!r} registered twice")
            entry = EventType(name=name, aggregate_type=aggregate, schema_version=version, model=model,
                              also_on=frozenset(also_on) - {aggregate})  # fmt: skip
            self._by_name[name] = entry
            self._by_model[model] = entry
            return model

        return register

    def upcaster(self, name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        def register(fn: Upcaster) -> Upcaster:
            self._by_name[name].upcasters[from_version] = fn
            return fn

        return register

    def entry_for(self, payload: BaseModel) -> EventType:
        return self._by_model[type(payload)]

    def entry(self, name: str) -> EventType:
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownEventType(f"unknown event type {name!r}") from None

    def load_payload(self, name: str, schema_version: int, payload: dict[str, Any]) -> BaseModel:
        entry = self.entry(name)
        if schema_version > entry.schema_version:
            raise UnknownEventType(f"{name} v{schema_version} is newer than this code (v{entry.schema_version})")
        data = payload
        for version in range(schema_version, entry.schema_version):
            data = entry.upcasters[version](data)
        return entry.model.model_validate(data)

    def payload_of(self, event: Any) -> BaseModel:
        """The payload of a stored event (anything with an `envelope`): the one validated when the event was read and
        checked (a projection's and a rebuild's events carry it as `payload`), else validated from the envelope now.
        Folding a batch then validates each payload once, not once per read-model part."""
        checked = getattr(event, "payload", None)
        if isinstance(checked, BaseModel):
            return checked
        env = event.envelope
        return self.load_payload(env.type, env.schema_version, env.payload)

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def json_schema(self) -> dict[str, Any]:
        """The machine-readable catalogue units code against (written to docs/events.schema.json)."""
        from shared.envelope import Envelope

        events = {}
        for name in self.names():
            entry = self._by_name[name]
            events[name] = {
                "aggregate_type": entry.aggregate_type,
                **({"also_on": sorted(entry.also_on)} if entry.also_on else {}),
                "schema_version": entry.schema_version,
                "payload": entry.model.model_json_schema(mode="serialization"),
            }
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Tiaodu event catalogue",
            "description": "Every event is an envelope whose payload matches the schema of its type at its version.",
            "envelope": Envelope.model_json_schema(mode="serialization"),
            "events": events,
        }


CATALOGUE = Catalogue()
event = CATALOGUE.event
upcaster = CATALOGUE.upcaster
