"""Data governance: marketing actions, data-usage labels and the policies between them.

As in AEP's governance model, a destination names the marketing actions it exports for, the
fields it exports carry data-usage labels, and a policy forbids some labels to some actions.
A destination config that would export a field against a policy is invalid: the violation is
reported when the config is validated (synthesis, `check`, the function's start-up), so such
data is never exported. The shipped catalogue (policies.json) is data, not code; a destination
adds its own policies in its config's `policies`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from .config import DestinationConfig

CATALOGUE_FILE = Path(__file__).with_name("policies.json")
# Contract (C1-C12), identity (I1-I2) and sensitive (S1-S2) labels; policies may add their own.
CORE_LABELS = frozenset([*(f"C{n}" for n in range(1, 13)), "I1", "I2", "S1", "S2"])
Label = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")]


class Policy(BaseModel):
    """These marketing actions may not use data carrying any of these labels."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    # Bounded, as every list and text of the config: a policy's name stands in each violation line.
    id: Annotated[str, Field(pattern=r"^[a-z0-9-]{1,64}$")]
    name: Annotated[str, Field(min_length=1, max_length=256)]
    marketing_actions: Annotated[list[str], Field(min_length=1, max_length=100, alias="marketingActions")]
    denied_labels: Annotated[list[Label], Field(min_length=1, max_length=32, alias="deniedLabels")]
    description: Annotated[str, Field(max_length=1024)] = ""


class Catalogue(BaseModel):
    """The marketing actions a destination may name (with what they mean), and the policies."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    marketing_actions: dict[str, str] = Field(alias="marketingActions")
    policies: list[Policy]


@cache
def load_catalogue() -> Catalogue:
    return Catalogue.model_validate(json.loads(CATALOGUE_FILE.read_text(encoding="utf-8")))


# Problem lines reported at most: a deliberately bad config breaks every policy with every label of
# every field, fields x labels x actions x policies lines (10^8 at the limits). The first ones say what to fix.
MAX_PROBLEMS = 100
# A namespace is named beside its index only when it is shaped as a namespace code (ECID, Email, ...).
_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def printable(text: str, limit: int = 64) -> str:
    """A name from the config as a problem line shows it: on one line, and of a bounded length."""
    if text.isprintable() and len(text) <= limit:
        return text
    return repr(text[:limit]) + ("…" if len(text) > limit else "")


def governance_problems(config: DestinationConfig, catalogue: Catalogue) -> list[str]:
    """One line per unknown action or label, and per violation: field, label, action, policy (at most
    MAX_PROBLEMS lines, the last saying that more were left out)."""
    return list(_capped(_governance_problems(config, catalogue)))


def _capped(problems: Iterator[str]) -> Iterator[str]:
    for count, problem in enumerate(problems):
        if count == MAX_PROBLEMS:
            yield f"... and more: only the first {MAX_PROBLEMS} problems are listed"
            return
        yield problem


def _governance_problems(config: DestinationConfig, catalogue: Catalogue) -> Iterator[str]:
    policies = [*catalogue.policies, *config.policies]
    known_actions = set(catalogue.marketing_actions).union(*(p.marketing_actions for p in config.policies))
    known_labels = CORE_LABELS.union(*(p.denied_labels for p in policies))
    known = ", ".join(sorted(known_actions))
    for index, action in enumerate(config.marketing_actions):
        if action not in known_actions:
            yield f"marketingActions[{index}]: unknown marketing action {action[:64]!r} (known: {known})"
    # For each label, the config's actions it is denied to and by which policy, in the order reported:
    # built once, so each label of a field is one look-up (validation stays linear in the config's size).
    policy_actions = [set(policy.marketing_actions) for policy in policies]
    denied: dict[str, list[tuple[str, Policy]]] = {}
    for action in config.marketing_actions:
        for policy, actions in zip(policies, policy_actions, strict=True):
            if action in actions:
                for label in dict.fromkeys(policy.denied_labels):
                    denied.setdefault(label, []).append((action, policy))
    labelled = [
        *(
            (f"attributes[{index}] ({printable(attribute.path, 256)})", attribute.labels)
            for index, attribute in enumerate(config.attributes)
        ),
        *(
            (
                f"identities[{index}]" + (f" ({identity.namespace})" if _CODE.fullmatch(identity.namespace) else ""),
                identity.labels,
            )
            for index, identity in enumerate(config.identities)
        ),
    ]
    for field, labels in labelled:
        for label in labels:
            if label not in known_labels:
                yield f"{field}: unknown label {label!r}"
        for label in labels:
            for action, policy in denied.get(label, ()):
                yield (
                    f"{field}: label {label} may not be used for marketing action {printable(action)} "
                    f"(policy {policy.id!r}: {printable(policy.name, 256)})"
                )
