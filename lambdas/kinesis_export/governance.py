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

    id: Annotated[str, Field(pattern=r"^[a-z0-9-]{1,64}$")]
    name: Annotated[str, Field(min_length=1)]
    marketing_actions: Annotated[list[str], Field(min_length=1, alias="marketingActions")]
    denied_labels: Annotated[list[Label], Field(min_length=1, alias="deniedLabels")]
    description: str = ""


class Catalogue(BaseModel):
    """The marketing actions a destination may name (with what they mean), and the policies."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    marketing_actions: dict[str, str] = Field(alias="marketingActions")
    policies: list[Policy]


@cache
def load_catalogue() -> Catalogue:
    return Catalogue.model_validate(json.loads(CATALOGUE_FILE.read_text(encoding="utf-8")))


def governance_problems(config: DestinationConfig, catalogue: Catalogue) -> list[str]:
    """One line per unknown action or label, and per violation: field, label, action, policy."""
    policies = [*catalogue.policies, *config.policies]
    known_actions = set(catalogue.marketing_actions).union(*(p.marketing_actions for p in config.policies))
    known_labels = CORE_LABELS.union(*(p.denied_labels for p in policies))
    known = ", ".join(sorted(known_actions))
    problems = [
        f"marketingActions[{index}]: unknown marketing action {action!r} (known: {known})"
        for index, action in enumerate(config.marketing_actions)
        if action not in known_actions
    ]
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
            (f"attributes[{index}] ({attribute.path})", attribute.labels)
            for index, attribute in enumerate(config.attributes)
        ),
        *(
            (f"identities[{index}] ({identity.namespace})", identity.labels)
            for index, identity in enumerate(config.identities)
        ),
    ]
    for field, labels in labelled:
        problems += [f"{field}: unknown label {label!r}" for label in labels if label not in known_labels]
        problems += [
            f"{field}: label {label} may not be used for marketing action {action} "
            f"(policy {policy.id!r}: {policy.name})"
            for label in labels
            for action, policy in denied.get(label, ())
        ]
    return problems
